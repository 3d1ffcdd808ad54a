package io.bagpipe.model;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.util.Locale;
import java.util.Objects;

/**
 * The learning rate as a function of the run's global step ({@code bagpipe.optimizer.schedule}):
 * the same step gives the same rate after a resume, on a regrouped ring and on every replica,
 * because nothing but the step number and these settings enters it.
 *
 * <p>With base rate {@code lr}, warm-up {@code W} steps and step {@code s} (0 for the first):
 * during warm-up ({@code s < W}) the rate is {@code lr * (s + 1) / W}; after it, {@code constant}
 * keeps {@code lr}, {@code step} is {@code lr * gamma^floor(s / stepSize)} and {@code cosine} is
 * {@code minLr + (lr - minLr) (1 + cos(pi t)) / 2} with {@code t = (s - W) / (totalSteps - W)},
 * held at {@code minLr} past {@code totalSteps}.
 *
 * @param kind constant, cosine or step
 * @param warmupSteps steps of linear warm-up (0: none)
 * @param totalSteps steps the cosine decays over, warm-up included; unused otherwise
 * @param stepSize steps between two decays of {@code step}; unused otherwise
 * @param gamma factor of each decay of {@code step}; unused otherwise
 * @param minLr the rate {@code cosine} ends at; unused otherwise
 */
public record LrSchedule(Kind kind, long warmupSteps, long totalSteps, long stepSize, double gamma, double minLr) {

  private static final String KEY = "bagpipe.optimizer.";

  /** The shape of the schedule. */
  public enum Kind {
    /** The base rate at every step (after any warm-up). */
    CONSTANT,
    /** Half a cosine from the base rate down to the minimum over the run's steps. */
    COSINE,
    /** The base rate times gamma after every {@code stepSize} steps. */
    STEP
  }

  public LrSchedule {
    Objects.requireNonNull(kind, "kind");
    require(warmupSteps >= 0, "warm-up must be >= 0 steps, got " + warmupSteps);
    require(totalSteps >= 1, "the schedule needs at least one step, got " + totalSteps);
    require(stepSize >= 1, "step-epochs must come to at least one step, got " + stepSize);
    require(gamma > 0 && gamma <= 1, "gamma must be in (0, 1], got " + gamma);
    require(minLr >= 0 && Double.isFinite(minLr), "min-lr must be >= 0, got " + minLr);
  }

  /** The base rate at every step: what a run without a schedule does. */
  public static LrSchedule constant() {
    return new LrSchedule(Kind.CONSTANT, 0, 1, 1, 1, 0);
  }

  /**
   * Reads the schedule keys of {@code bagpipe.optimizer}; lengths given in epochs become steps
   * with {@code stepsPerEpoch}, and the cosine spans {@code epochs} epochs. A bad value is a
   * {@link ConfigException.BadValue} naming its key.
   */
  public static LrSchedule fromConfig(Config c, long stepsPerEpoch, int epochs) {
    Kind kind;
    String name = c.getString("schedule");
    try {
      kind = Kind.valueOf(name.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new ConfigException.BadValue(c.getValue("schedule").origin(), KEY + "schedule",
          "unknown schedule \"" + name + "\": use constant, cosine or step");
    }
    long perEpoch = Math.max(1, stepsPerEpoch);
    long warmupSteps = c.getLong("warmup-steps");
    double warmupEpochs = c.getDouble("warmup-epochs");
    if (warmupSteps < 0) {
      throw bad(c, "warmup-steps", "must be >= 0, got " + warmupSteps);
    }
    if (!(warmupEpochs >= 0) || Double.isInfinite(warmupEpochs)) {
      throw bad(c, "warmup-epochs", "must be >= 0, got " + warmupEpochs);
    }
    if (warmupSteps > 0 && warmupEpochs > 0) {
      throw bad(c, "warmup-epochs", "give the warm-up in steps or in epochs, not both (warmup-steps = "
          + warmupSteps + ")");
    }
    long warmup = warmupSteps > 0 ? warmupSteps : Math.round(warmupEpochs * perEpoch);
    double stepEpochs = c.getDouble("step-epochs");
    if (!(stepEpochs > 0) || Double.isInfinite(stepEpochs)) {
      throw bad(c, "step-epochs", "must be > 0, got " + stepEpochs);
    }
    double gamma = c.getDouble("gamma");
    if (!(gamma > 0 && gamma <= 1)) {
      throw bad(c, "gamma", "must be in (0, 1], got " + gamma);
    }
    double minLr = c.getDouble("min-lr");
    double lr = c.getDouble("lr");
    if (!(minLr >= 0 && minLr <= lr)) {
      throw bad(c, "min-lr", "must be from 0 to lr (" + lr + "), got " + minLr);
    }
    long total = Math.max(1, perEpoch * epochs);
    if (kind == Kind.COSINE && warmup >= total) {
      throw bad(c, "warmup-" + (warmupSteps > 0 ? "steps" : "epochs"), "the warm-up (" + warmup
          + " steps) must end before the run's last step (" + total + " steps in " + epochs + " epochs)");
    }
    return new LrSchedule(kind, warmup, total, Math.max(1, Math.round(stepEpochs * perEpoch)), gamma, minLr);
  }

  /** The learning rate at global step {@code step} (0 for the run's first) for base rate {@code lr}. */
  public double lr(double lr, long step) {
    if (step < 0) {
      throw new IllegalArgumentException("step must be >= 0, got " + step);
    }
    if (step < warmupSteps) {
      return lr * (step + 1) / warmupSteps;
    }
    return switch (kind) {
      case CONSTANT -> lr;
      case STEP -> lr * Math.pow(gamma, step / stepSize);
      case COSINE -> {
        double t = Math.min(1.0, (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
        yield minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * t));
      }
    };
  }

  private static ConfigException bad(Config c, String key, String message) {
    return new ConfigException.BadValue(c.getValue(key).origin(), KEY + key, message);
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(KEY + "schedule: " + message);
    }
  }
}
