package io.bagpipe.allreduce;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.List;
import java.util.Map;

/**
 * Rings whose workers all live in this JVM: every worker that joins generation
 * {@code g} gets the same {@link LocalAllReduce}. One instance serves one run.
 */
public final class LocalRing {

  private final Map<Long, LocalAllReduce> byGeneration = new HashMap<>();
  /** Bulk transfers between workers of this JVM, by id: the bytes, once written. */
  private final Map<Long, CompletableFuture<byte[]>> transfers = new HashMap<>();

  private CompletableFuture<byte[]> transfer(long id) {
    synchronized (transfers) {
      return transfers.computeIfAbsent(id, k -> new CompletableFuture<>());
    }
  }

  /** A factory for one worker of this JVM. */
  public AllReduceFactory worker() {
    return new AllReduceFactory() {
      private LocalAllReduce joined;
      private long joinedGeneration;
      private int joinedRank;

      @Override
      public String address() {
        return "local";
      }

      @Override
      public synchronized AllReduce join(long generation, int rank, List<String> addresses) {
        leave();
        synchronized (byGeneration) {
          joined = byGeneration.computeIfAbsent(generation, g -> new LocalAllReduce(generation, addresses.size()));
          byGeneration.keySet().removeIf(g -> g < generation);
        }
        joinedGeneration = generation;
        joinedRank = rank;
        return joined;
      }

      @Override
      public CompletionStage<Void> send(String to, long id, TransferWriter body) {
        return CompletableFuture.runAsync(() -> {
          ByteArrayOutputStream out = new ByteArrayOutputStream();
          try {
            body.write(out);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
          transfer(id).complete(out.toByteArray());
        }, Thread::startVirtualThread);
      }

      @Override
      public <T> CompletionStage<T> receive(long id, TransferReader<T> reader) {
        return transfer(id).thenApplyAsync(bytes -> {
          synchronized (transfers) {
            transfers.remove(id);
          }
          try {
            return reader.read(new ByteArrayInputStream(bytes));
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }, Thread::startVirtualThread);
      }

      @Override
      public void close() {
        leave();
      }

      @Override
      public synchronized void leave() {
        if (joined != null) {
          joined.breakRing("rank " + joinedRank + " left ring generation " + joinedGeneration);
          joined = null;
        }
      }
    };
  }
}
