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
      @Override
      public String address() {
        return "local";
      }

      @Override
      public AllReduce join(long generation, int rank, List<String> addresses) {
        synchronized (byGeneration) {
          return byGeneration.computeIfAbsent(generation, g -> new LocalAllReduce(addresses.size()));
        }
      }
    };
  }
}
