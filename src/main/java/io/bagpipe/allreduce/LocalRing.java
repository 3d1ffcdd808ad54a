package io.bagpipe.allreduce;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Rings whose workers all live in this JVM: every worker that joins generation
 * {@code g} gets the same {@link LocalAllReduce}. One instance serves one run.
 */
public final class LocalRing {

  private final Map<Long, LocalAllReduce> byGeneration = new HashMap<>();

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
