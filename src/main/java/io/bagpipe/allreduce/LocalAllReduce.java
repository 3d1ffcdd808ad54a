package io.bagpipe.allreduce;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * {@link AllReduce} among workers of one JVM. The last contribution of a round
 * sums all ranks' gradients in rank order (so the float result does not depend
 * on who arrived first), divides by the summed weight once, and completes every
 * rank's stage with that one array. A rank that leaves ({@link #breakRing}) fails
 * the pending rounds of the others and every later one, as a broken network ring
 * does.
 */
public final class LocalAllReduce implements AllReduce {

  private final long generation;
  private final int world;
  private final Map<Long, Round> rounds = new HashMap<>();
  /** Set once a rank left; guarded by {@link #rounds}. */
  private RingBrokenException broken;

  private static final class Round {
    final float[][] gradients;
    final int[] weights;
    boolean halt;
    final CompletableFuture<Reduced> result = new CompletableFuture<>();
    int arrived;

    Round(int world) {
      gradients = new float[world][];
      weights = new int[world];
    }
  }

  public LocalAllReduce(int world) {
    this(1, world);
  }

  /** The in-JVM ring {@code generation} of {@code world} ranks. */
  public LocalAllReduce(long generation, int world) {
    if (world < 1) {
      throw new IllegalArgumentException("world must be >= 1, got " + world);
    }
    this.generation = generation;
    this.world = world;
  }

  /** Fails every pending and later round with a {@link RingBrokenException} saying {@code reason}. */
  public void breakRing(String reason) {
    java.util.List<Round> pending;
    synchronized (rounds) {
      if (broken != null) {
        return;
      }
      broken = new RingBrokenException(generation, -1, null, reason, null);
      pending = java.util.List.copyOf(rounds.values());
      rounds.clear();
    }
    for (Round r : pending) {
      r.result.completeExceptionally(broken);
    }
  }

  @Override
  public int world() {
    return world;
  }

  @Override
  public CompletionStage<Reduced> reduce(int rank, long round, float[] gradient, int weight, boolean halt) {
    if (rank < 0 || rank >= world) {
      throw new IllegalArgumentException("rank " + rank + " outside world of " + world);
    }
    if (weight < 0) {
      throw new IllegalArgumentException("weight must be >= 0, got " + weight);
    }
    Round r;
    boolean last;
    synchronized (rounds) {
      if (broken != null) {
        return CompletableFuture.failedFuture(broken);
      }
      r = rounds.computeIfAbsent(round, k -> new Round(world));
      if (r.gradients[rank] != null) {
        throw new IllegalStateException("rank " + rank + " contributed twice to round " + round);
      }
      if (r.arrived > 0) {
        float[] first = r.gradients[firstArrived(r)];
        if (first.length != gradient.length) {
          throw new IllegalArgumentException(
              "rank " + rank + " sent " + gradient.length + " floats to round " + round + ", others " + first.length);
        }
      }
      r.gradients[rank] = gradient;
      r.weights[rank] = weight;
      r.halt |= halt;
      last = ++r.arrived == world;
      if (last) {
        rounds.remove(round);
      }
    }
    if (last) {
      r.result.complete(average(round, r));
    }
    return r.result;
  }

  private static int firstArrived(Round r) {
    for (int i = 0; ; i++) {
      if (r.gradients[i] != null) {
        return i;
      }
    }
  }

  private static Reduced average(long round, Round r) {
    int n = r.gradients[0].length;
    float[] sum = r.gradients[0].clone();
    int weight = r.weights[0];
    for (int k = 1; k < r.gradients.length; k++) {
      float[] g = r.gradients[k];
      for (int i = 0; i < n; i++) {
        sum[i] += g[i];
      }
      weight += r.weights[k];
    }
    if (weight == 0) {
      java.util.Arrays.fill(sum, 0f);
    } else {
      float inv = 1f / weight;
      for (int i = 0; i < n; i++) {
        sum[i] *= inv;
      }
    }
    return new Reduced(round, sum, weight, r.halt);
  }
}
