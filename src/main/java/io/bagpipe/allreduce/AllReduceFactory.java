package io.bagpipe.allreduce;

import java.util.List;

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

  /** Releases what {@link #address()} holds (a listening socket). */
  default void close() {}
}
