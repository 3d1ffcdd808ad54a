package io.bagpipe.coordinator;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Decides what a failure means for the run; the Coordinator carries the decision out.
 *
 * <ul>
 *   <li>A bag that cannot be decoded (corrupt slide, missing file, patch outside the
 *       image) is skipped and reported: one bad slide must not end a week-long run.
 *   <li>A lost rank (its actor or node stopped, the gradient ring broke, it missed a
 *       deadline) makes the Coordinator regroup: the step in flight is dropped on every
 *       rank and the survivors go on in a new ring. With fewer than
 *       {@code bagpipe.elastic.min-workers} left the run pauses until workers join
 *       (up to {@code bagpipe.elastic.rejoin-timeout}); with none left it ends.
 *   <li>Survivors that applied different steps (a rank died inside the last exchange
 *       of a step, after some ranks had the average and before others did) go on once
 *       those behind are healed from one that applied it; more than one step apart
 *       cannot happen in lockstep, so it ends the run as a bug.
 * </ul>
 */
public final class FailurePolicy {

  private static final String RESUME =
      "; the run can resume from its newest checkpoint (run the same command again with bagpipe.train.resume = true)";

  private FailurePolicy() {}

  public static FailureDecision bagFailed(int epoch, long bagKey, String slideId, String reason) {
    return new FailureDecision.Skip(
        (epoch < 0 ? "validation" : "epoch " + epoch) + ": skipped bag " + bagKey + " of slide '" + slideId + "': " + reason);
  }

  /**
   * {@code quarantined} slides of {@code total} could not be read: going on is fine up to
   * {@code maxFraction} of the data set; past it the data (or its storage) is broken and
   * the run ends, naming the slides.
   */
  public static FailureDecision quarantined(Map<String, String> quarantined, int total, double maxFraction,
      String file) {
    if (quarantined.size() <= maxFraction * total) {
      return new FailureDecision.Skip(quarantined.size() + " of " + total + " slides quarantined (" + file + ")");
    }
    StringBuilder b = new StringBuilder();
    quarantined.forEach((slide, error) -> b.append(b.isEmpty() ? "" : "; ").append('\'').append(slide).append("': ")
        .append(error));
    return new FailureDecision.Abort(quarantined.size() + " of " + total + " slides could not be read, more than"
        + " bagpipe.train.max-quarantined = " + maxFraction + " of them: " + b + ". Check the data set and its"
        + " storage (the list is in " + file + "), then resume");
  }

  /** Rank {@code rank} was lost while the run was {@code where}: regroup without it. */
  public static FailureDecision rankLost(int rank, String where, String reason) {
    return new FailureDecision.Regroup((rank < 0 ? "lost a rank " : "lost rank " + rank + " ") + where + ": " + reason);
  }

  /**
   * After a loss, {@code survivors} (workers by rank) are left of the ring and
   * {@code lost} (likewise) are gone: go on, or pause for joiners below the floor.
   */
  public static FailureDecision survivors(Map<Integer, String> survivors, Map<Integer, String> lost, ElasticSettings e) {
    if (survivors.isEmpty()) {
      return new FailureDecision.Abort("every worker was lost (" + describe(lost) + "), so no live replica is left"
          + RESUME);
    }
    if (survivors.size() < e.minWorkers()) {
      return new FailureDecision.Pause(survivors.size() + " worker(s) left after losing " + describe(lost)
          + ", fewer than bagpipe.elastic.min-workers = " + e.minWorkers());
    }
    return new FailureDecision.Regroup("going on with " + survivors.size() + " worker(s) after losing " + describe(lost));
  }

  /**
   * Survivors report the global steps they applied last: one value, the run goes on
   * from there; several, their replicas differ by a step and the run ends.
   */
  public static FailureDecision applied(Map<Integer, Long> appliedByRank) {
    long max = appliedByRank.values().stream().mapToLong(Long::longValue).max().orElse(0);
    long min = appliedByRank.values().stream().mapToLong(Long::longValue).min().orElse(0);
    if (max - min <= 1) {
      return new FailureDecision.Regroup(max == min ? "all survivors applied the same step"
          : "survivors one step behind are healed from one that applied it");
    }
    return new FailureDecision.Abort("the ring broke inside the last exchange of a step: the surviving ranks applied"
        + " different steps (last global step by rank: " + new TreeMap<>(appliedByRank) + "), so their replicas differ"
        + RESUME);
  }

  /**
   * Rank 0 could not write a checkpoint ({@code error}), for the {@code attempt}-th time:
   * once more, then the run ends. A run that goes on without checkpoints would lose
   * everything since the last one to the next failure of the whole cluster; ending keeps
   * the newest good checkpoint and says what to fix.
   */
  public static FailureDecision checkpointFailed(int attempt, String error) {
    if (attempt < 2) {
      return new FailureDecision.Retry("checkpoint failed, writing it again: " + error);
    }
    return new FailureDecision.Abort("cannot write checkpoints: " + error + ". The newest good checkpoint stays;"
        + " free space or fix the folder (bagpipe.train.run-dir, bagpipe.checkpoint.dir), then run the same"
        + " command again to resume");
  }

  /** The ledger of an epoch does not balance: a bag was lost or trained twice, which must never pass silently. */
  public static FailureDecision.Abort unbalanced(int epoch, List<String> problems) {
    return new FailureDecision.Abort("the bag ledger of epoch " + epoch + " does not balance: " + String.join("; ", problems)
        + "; this is a bug, please report it with the run's log" + RESUME);
  }

  private static String describe(Map<Integer, String> lost) {
    StringBuilder b = new StringBuilder();
    lost.forEach((rank, who) -> b.append(b.isEmpty() ? "" : ", ").append("rank ").append(rank).append(" (").append(who)
        .append(')'));
    return b.isEmpty() ? "no rank" : b.toString();
  }
}
