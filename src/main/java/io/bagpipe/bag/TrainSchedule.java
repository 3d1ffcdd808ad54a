package io.bagpipe.bag;

import java.util.ArrayList;
import java.util.List;

/**
 * Deals one epoch's training bags to W workers in lockstep steps.
 *
 * <p>Every worker runs the same number of steps, {@code S = ceil(B / (W * P))} for B
 * bags and P bags per worker per step, so the all-reduce of every step has all W
 * workers. Step s covers the plan's bags {@code [s*W*P, (s+1)*W*P)}, dealt round-robin:
 * its j-th bag goes to rank {@code j % W} (as that rank's bag {@code j / W}).
 *
 * <p>The remainder: when B is not a multiple of W*P, only the last step is short;
 * its {@code B - (S-1)*W*P} bags are dealt the same way, so ranks differ by at most
 * one bag and some ranks may get none. A rank with fewer bags still joins the step
 * (with a zero gradient when it has none), and the step's gradient is the sum over
 * all ranks divided by {@link #bagCount(int)}, the bags actually processed. So
 * every bag is used exactly once per epoch, with no duplicated padding bags and
 * none dropped. B = 0 gives zero steps.
 */
public final class TrainSchedule {

  private final List<BagRef> bags;
  private final int world;
  private final int bagsPerStep;

  private TrainSchedule(List<BagRef> bags, int world, int bagsPerStep) {
    if (world < 1 || bagsPerStep < 1) {
      throw new IllegalArgumentException("world (" + world + ") and bags per step (" + bagsPerStep + ") must be positive");
    }
    this.bags = List.copyOf(bags);
    this.world = world;
    this.bagsPerStep = bagsPerStep;
  }

  /** The schedule of {@code plan} over {@code world} workers with {@code bagsPerStep} bags per worker per step. */
  public static TrainSchedule of(EpochPlan plan, int world, int bagsPerStep) {
    return of(plan.bags(), world, bagsPerStep);
  }

  /** The schedule of {@code bags} (in plan order) over {@code world} workers. */
  public static TrainSchedule of(List<BagRef> bags, int world, int bagsPerStep) {
    return new TrainSchedule(bags, world, bagsPerStep);
  }

  /** Number of steps every rank runs. */
  public int steps() {
    long perStep = (long) world * bagsPerStep;
    return (int) ((bags.size() + perStep - 1) / perStep);
  }

  /** Number of workers. */
  public int world() {
    return world;
  }

  /** The bags {@code rank} processes in {@code step}, in order; empty when it has none. */
  public List<BagRef> bagsFor(int step, int rank) {
    check(step, rank);
    int first = step * world * bagsPerStep;
    List<BagRef> out = new ArrayList<>(bagsPerStep);
    for (int j = rank; j < world * bagsPerStep && first + j < bags.size(); j += world) {
      out.add(bags.get(first + j));
    }
    return out;
  }

  /** Bags processed in {@code step} over all ranks: the divisor of the step's summed gradient. */
  public int bagCount(int step) {
    check(step, 0);
    int perStep = world * bagsPerStep;
    return Math.min(perStep, bags.size() - step * perStep);
  }

  private void check(int step, int rank) {
    if (step < 0 || step >= steps() || rank < 0 || rank >= world) {
      throw new IndexOutOfBoundsException("step " + step + " of " + steps() + ", rank " + rank + " of " + world);
    }
  }
}
