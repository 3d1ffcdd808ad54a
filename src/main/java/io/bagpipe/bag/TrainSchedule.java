package io.bagpipe.bag;

import java.util.ArrayList;
import java.util.List;

/**
 * Cuts one epoch's training bags into optimizer steps of a fixed size, and deals a
 * step's bags over however many workers the ring has when the step runs.
 *
 * <p>Step s covers the plan's bags {@code [s*B, (s+1)*B)} for B {@link #stepBags()}
 * (the run's workers times {@code bags-per-step}, fixed when the run starts), so
 * there are {@code ceil(N / B)} steps and only the last may be short. Which bags a
 * step holds never depends on the number of workers: when the ring shrinks or grows
 * mid-epoch, the same step averages the same bags, dealt over more or fewer ranks,
 * and a step that was cut by a failure is retaken with exactly its own bags.
 *
 * <p>Dealing: the step's j-th bag goes to rank {@code j % W} (as that rank's bag
 * {@code j / W}), so ranks differ by at most one bag and some may get none. A rank
 * with no bag still joins the step's all-reduce with weight 0, and the step's
 * gradient is the sum over ranks divided by the bags actually trained. So every bag
 * is used exactly once per epoch, with no padding duplicates and none dropped.
 */
public final class TrainSchedule {

  private final List<BagRef> bags;
  private final int stepBags;

  private TrainSchedule(List<BagRef> bags, int stepBags) {
    if (stepBags < 1) {
      throw new IllegalArgumentException("bags per step (" + stepBags + ") must be positive");
    }
    this.bags = List.copyOf(bags);
    this.stepBags = stepBags;
  }

  /** The steps of {@code plan} with {@code stepBags} bags each. */
  public static TrainSchedule of(EpochPlan plan, int stepBags) {
    return of(plan.bags(), stepBags);
  }

  /** The steps of {@code bags} (in plan order) with {@code stepBags} bags each. */
  public static TrainSchedule of(List<BagRef> bags, int stepBags) {
    return new TrainSchedule(bags, stepBags);
  }

  /** Number of steps. */
  public int steps() {
    return (int) ((bags.size() + (long) stepBags - 1) / stepBags);
  }

  /** Bags of {@code steps} steps from {@code first}: what they train when none is skipped. */
  public int bagCount(int first, int steps) {
    int end = Math.min(first + steps, steps());
    return first >= end ? 0 : Math.min(bags.size(), end * stepBags) - first * stepBags;
  }

  /** The bags {@code rank} of {@code world} trains in {@code step}, in order; empty when it has none. */
  public List<BagRef> bagsFor(int step, int rank, int world) {
    if (step < 0 || step >= steps() || world < 1 || rank < 0 || rank >= world) {
      throw new IndexOutOfBoundsException("step " + step + " of " + steps() + ", rank " + rank + " of " + world);
    }
    int first = step * stepBags;
    int count = Math.min(stepBags, bags.size() - first);
    List<BagRef> out = new ArrayList<>(count / world + 1);
    for (int j = rank; j < count; j += world) {
      out.add(bags.get(first + j));
    }
    return out;
  }
}
