package io.bagpipe.checkpoint;

import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Where a run stands, as saved in a checkpoint: enough to resume with the same
 * plan position ({@code EpochPlan(seed, epoch, ...)} re-made, its first
 * {@code step} optimizer steps skipped).
 *
 * @param epoch the epoch in progress, or the next to run when the last one completed
 * @param step optimizer steps completed within {@code epoch}: the plan position
 * @param globalStep optimizer steps completed since the run began; at least {@code step}
 * @param seed the plan seed the run was started with
 * @param bestMetric name of the metric that picks the best checkpoint, e.g. {@code val_auc}
 * @param bestValue the best value of {@code bestMetric} so far, NaN when none yet
 * @param bestEpoch the epoch that reached {@code bestValue}, -1 when none yet
 * @param extras free-form facts about the run (model and encoder names, config digest);
 *     keys non-empty, kept sorted
 */
public record RunState(
    int epoch, long step, long globalStep, long seed, String bestMetric, double bestValue, int bestEpoch,
    Map<String, String> extras) {

  public RunState {
    Objects.requireNonNull(bestMetric, "bestMetric");
    Objects.requireNonNull(extras, "extras");
    if (epoch < 0 || step < 0 || globalStep < step) {
      throw new IllegalArgumentException("bad run position: epoch " + epoch + ", step " + step
          + ", global step " + globalStep + " (need epoch >= 0 and 0 <= step <= global step)");
    }
    if (bestMetric.isBlank()) {
      throw new IllegalArgumentException("best metric name must not be blank");
    }
    if (Double.isInfinite(bestValue)) {
      throw new IllegalArgumentException("best " + bestMetric + " must be finite or NaN, got " + bestValue);
    }
    if (Double.isNaN(bestValue) ? bestEpoch != -1 : bestEpoch < 0 || bestEpoch > epoch) {
      throw new IllegalArgumentException("best " + bestMetric + " = " + bestValue + " at epoch " + bestEpoch
          + " does not fit epoch " + epoch + " (no best yet is NaN at epoch -1)");
    }
    SortedMap<String, String> copy = new TreeMap<>();
    extras.forEach((k, v) -> {
      if (k == null || k.isEmpty() || v == null) {
        throw new IllegalArgumentException("run state extra " + k + " = " + v + ": keys must be non-empty, values non-null");
      }
      copy.put(k, v);
    });
    extras = Collections.unmodifiableSortedMap(copy);
  }

  /** The state of a run that has not taken a step yet. */
  public static RunState start(long seed, String bestMetric, Map<String, String> extras) {
    return new RunState(0, 0, 0, seed, bestMetric, Double.NaN, -1, extras);
  }

  /** Whether a best value has been recorded. */
  public boolean hasBest() {
    return !Double.isNaN(bestValue);
  }

  /** This state at another plan position. */
  public RunState at(int epoch, long step, long globalStep) {
    return new RunState(epoch, step, globalStep, seed, bestMetric, bestValue, bestEpoch, extras);
  }

  /** This state with {@code extras} instead of its own. */
  public RunState withExtras(Map<String, String> extras) {
    return new RunState(epoch, step, globalStep, seed, bestMetric, bestValue, bestEpoch, extras);
  }

  /** This state with a new best value reached in {@code epoch}. */
  public RunState withBest(double value, int epoch) {
    return new RunState(this.epoch, step, globalStep, seed, bestMetric, value, epoch, extras);
  }
}
