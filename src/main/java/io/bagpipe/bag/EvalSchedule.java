package io.bagpipe.bag;

import java.util.ArrayList;
import java.util.List;

/**
 * Deals validation bags to W workers: rank r evaluates bags {@code r, r+W, r+2W, ...}
 * of the plan. Every bag is evaluated exactly once, with no padding duplicates, and
 * the ranks' counts differ by at most one; metrics are summed over ranks, not
 * averaged per rank.
 */
public final class EvalSchedule {

  private final List<BagRef> bags;
  private final int world;

  private EvalSchedule(List<BagRef> bags, int world) {
    if (world < 1) {
      throw new IllegalArgumentException("world must be positive, got " + world);
    }
    this.bags = List.copyOf(bags);
    this.world = world;
  }

  /** The schedule of {@code plan}'s bags over {@code world} workers. */
  public static EvalSchedule of(EpochPlan plan, int world) {
    return new EvalSchedule(plan.bags(), world);
  }

  /** The schedule of {@code bags} over {@code world} workers. */
  public static EvalSchedule of(List<BagRef> bags, int world) {
    return new EvalSchedule(bags, world);
  }

  /** The bags {@code rank} evaluates, in plan order. */
  public List<BagRef> bagsFor(int rank) {
    if (rank < 0 || rank >= world) {
      throw new IndexOutOfBoundsException("rank " + rank + " of " + world);
    }
    List<BagRef> out = new ArrayList<>(bags.size() / world + 1);
    for (int i = rank; i < bags.size(); i += world) {
      out.add(bags.get(i));
    }
    return out;
  }
}
