package io.bagpipe.worker;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * What one worker has done so far, in counters its actor bumps once per applied step
 * and that anyone may read at any time, e.g. a metrics endpoint at scrape time. Counts
 * only grow; the ring fields say where the worker stands now.
 *
 * <p>All-reduce bytes are the ring algorithm's bus bytes, what each rank sends in a
 * reduce-scatter plus an all-gather of the flat gradient: {@code 2 (W-1)/W} times its
 * size for a ring of W ranks, 0 for one rank. Divided by the all-reduce time they give
 * the bus bandwidth that {@code bagpipe bench allreduce} reports.
 */
public final class WorkerMeter {

  /** The stages of a step, in {@link Worker.StageNanos}'s order. */
  public enum Stage {
    DECODE_WAIT, UPLOAD, FORWARD, BACKWARD, ALL_REDUCE, OPTIMIZER;

    /** The stage's name in lower case with underscores, as metrics label it. */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  private final AtomicLong steps = new AtomicLong();
  private final AtomicLong bags = new AtomicLong();
  private final AtomicLongArray stageNanos = new AtomicLongArray(Stage.values().length);
  private final AtomicLong allReduceBytes = new AtomicLong();
  private final AtomicLong generation = new AtomicLong();
  private final AtomicLong rank = new AtomicLong(-1);
  private final AtomicLong world = new AtomicLong();
  private final AtomicLong refusedOrders = new AtomicLong();

  /** Steps this worker applied. */
  public long steps() {
    return steps.get();
  }

  /** Bags this worker trained in its applied steps. */
  public long bags() {
    return bags.get();
  }

  /** Nanoseconds spent in {@code stage}, summed over the applied steps. */
  public long stageNanos(Stage stage) {
    return stageNanos.get(stage.ordinal());
  }

  /** Bus bytes of the applied steps' all-reduces (see the class comment). */
  public long allReduceBytes() {
    return allReduceBytes.get();
  }

  /** The ring generation this worker last joined; 0 before the first. */
  public long generation() {
    return generation.get();
  }

  /** This worker's rank in that ring; -1 before the first. */
  public long rank() {
    return rank.get();
  }

  /** The number of ranks in that ring; 0 before the first. */
  public long world() {
    return world.get();
  }

  /**
   * Orders this worker refused because another Coordinator than the one it follows
   * sent them, introductions held back included (docs/security.md).
   */
  public long refusedOrders() {
    return refusedOrders.get();
  }

  void refused() {
    refusedOrders.incrementAndGet();
  }

  void joined(long generation, int rank, int world) {
    this.generation.set(generation);
    this.rank.set(rank);
    this.world.set(world);
  }

  void applied(int bags, Worker.StageNanos t, int gradientFloats) {
    steps.incrementAndGet();
    this.bags.addAndGet(bags);
    stageNanos.addAndGet(Stage.DECODE_WAIT.ordinal(), t.decodeWait());
    stageNanos.addAndGet(Stage.UPLOAD.ordinal(), t.upload());
    stageNanos.addAndGet(Stage.FORWARD.ordinal(), t.forward());
    stageNanos.addAndGet(Stage.BACKWARD.ordinal(), t.backward());
    stageNanos.addAndGet(Stage.ALL_REDUCE.ordinal(), t.allReduce());
    stageNanos.addAndGet(Stage.OPTIMIZER.ordinal(), t.optimizer());
    long w = world.get();
    if (w > 1) {
      allReduceBytes.addAndGet(2 * (w - 1) * 4L * gradientFloats / w);
    }
  }
}
