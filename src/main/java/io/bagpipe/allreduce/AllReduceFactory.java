package io.bagpipe.allreduce;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.concurrent.CompletionStage;

/**
 * Makes a worker's {@link AllReduce} when the Coordinator forms (or re-forms) the
 * ring: generation {@code generation}, this worker's {@code rank}, and every
 * rank's data address in rank order (what {@link #address()} returned on each).
 */
public interface AllReduceFactory {

  /** Where this worker's all-reduce can be reached by its peers, before any ring exists. */
  String address();

  /** The all-reduce of {@code rank} in the ring of {@code addresses}. */
  AllReduce join(long generation, int rank, List<String> addresses);

  /**
   * Leaves the ring last joined, if any: its pending rounds fail, and so do the
   * rounds of the ranks still in it, which learn that this rank is gone.
   */
  void leave();

  /**
   * Sends bulk transfer {@code id} to the worker whose data address is {@code to}
   * (what {@link #address()} returned there): {@code body} writes its bytes, on a
   * thread of its own. Completes when all bytes are written, or fails.
   */
  CompletionStage<Void> send(String to, long id, TransferWriter body);

  /**
   * Receives bulk transfer {@code id} sent to this worker: {@code reader} reads its
   * bytes, on a thread of its own, into the stage's result.
   */
  <T> CompletionStage<T> receive(long id, TransferReader<T> reader);

  /** Writes the bytes of a bulk transfer. */
  @FunctionalInterface
  interface TransferWriter {
    void write(OutputStream out) throws IOException;
  }

  /** Reads the bytes of a bulk transfer. */
  @FunctionalInterface
  interface TransferReader<T> {
    T read(InputStream in) throws IOException;
  }

  /** Releases what {@link #address()} holds (a listening socket). */
  default void close() {}
}
