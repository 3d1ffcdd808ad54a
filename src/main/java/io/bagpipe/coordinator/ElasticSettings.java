package io.bagpipe.coordinator;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.time.Duration;

/**
 * The {@code bagpipe.elastic} settings: how a run goes on when workers are lost.
 *
 * @param minWorkers fewest live workers the run keeps training with; below it the run ends
 * @param deadlineFloor shortest time the Coordinator waits for a rank (to finish a step, a
 *     validation batch, or to confirm it left a broken ring) before it names and evicts it
 * @param deadlineFactor a deadline is this many times the slowest recent step, at least the floor
 * @param deadlineCap longest any deadline gets, whatever the recent steps took
 * @param firstStepDeadline the least a new ring's first step is given
 * @param rejoinTimeout how long a run with fewer than {@code minWorkers} left waits for workers to join
 */
public record ElasticSettings(int minWorkers, Duration deadlineFloor, double deadlineFactor, Duration deadlineCap,
    Duration firstStepDeadline, Duration rejoinTimeout) {

  private static final String KEY = "bagpipe.elastic.";

  public ElasticSettings {
    if (minWorkers < 1) {
      throw new IllegalArgumentException(KEY + "min-workers must be >= 1, got " + minWorkers);
    }
    if (deadlineFloor.isNegative() || deadlineFloor.isZero()) {
      throw new IllegalArgumentException(KEY + "deadline-floor must be positive, got " + deadlineFloor);
    }
    if (!(deadlineFactor >= 1)) {
      throw new IllegalArgumentException(KEY + "deadline-factor must be >= 1, got " + deadlineFactor);
    }
    if (deadlineCap.compareTo(deadlineFloor) < 0) {
      throw new IllegalArgumentException(KEY + "deadline-cap (" + deadlineCap + ") must not be below deadline-floor ("
          + deadlineFloor + ")");
    }
    if (firstStepDeadline.compareTo(deadlineFloor) < 0 || firstStepDeadline.compareTo(deadlineCap) > 0) {
      throw new IllegalArgumentException(KEY + "first-step-deadline (" + firstStepDeadline + ") must lie between"
          + " deadline-floor (" + deadlineFloor + ") and deadline-cap (" + deadlineCap + ")");
    }
    if (rejoinTimeout.isNegative()) {
      throw new IllegalArgumentException(KEY + "rejoin-timeout must not be negative, got " + rejoinTimeout);
    }
  }

  public static ElasticSettings fromConfig(Config c) {
    try {
      return new ElasticSettings(c.getInt("min-workers"), c.getDuration("deadline-floor"), c.getDouble("deadline-factor"),
          c.getDuration("deadline-cap"), c.getDuration("first-step-deadline"), c.getDuration("rejoin-timeout"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.elastic: " + e.getMessage(), e);
    }
  }

  /**
   * The deadline for work that recently took at most {@code slowestNanos}: factor
   * times that, within floor and cap; the cap while nothing was measured yet (the
   * first steps of a process load the model and compile).
   */
  public Duration deadline(long slowestNanos) {
    if (slowestNanos <= 0) {
      return deadlineCap;
    }
    long nanos = (long) Math.min(deadlineCap.toNanos(), Math.max(deadlineFloor.toNanos(), deadlineFactor * slowestNanos));
    return Duration.ofNanos(nanos);
  }
}
