package io.bagpipe.checkpoint;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValueType;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;

/**
 * Where and how checkpoints are kept ({@code bagpipe.checkpoint}).
 *
 * @param dir folder of checkpoint files, relative to the run directory unless absolute
 * @param keepLast versioned checkpoints kept, at least 1
 * @param bestMetric metric that picks {@code best.ckpt}, e.g. {@code val_auc}
 * @param bestMode whether larger or smaller {@code bestMetric} is better
 * @param everySteps a checkpoint within an epoch every this many committed steps, 0 for none
 * @param every a checkpoint within an epoch once this long passed since the last one, zero for none
 */
public record CheckpointSettings(Path dir, int keepLast, String bestMetric, BestMode bestMode, int everySteps,
    java.time.Duration every) {

  /** Epoch-end checkpoints only. */
  public CheckpointSettings(Path dir, int keepLast, String bestMetric, BestMode bestMode) {
    this(dir, keepLast, bestMetric, bestMode, 0, java.time.Duration.ZERO);
  }

  private static final String KEY = "bagpipe.checkpoint.";

  public CheckpointSettings {
    Objects.requireNonNull(dir, "dir");
    Objects.requireNonNull(bestMetric, "bestMetric");
    Objects.requireNonNull(bestMode, "bestMode");
    if (keepLast < 1) {
      throw new ConfigException.BadValue(KEY + "keep-last", "must be at least 1, got " + keepLast);
    }
    if (bestMetric.isBlank()) {
      throw new ConfigException.BadValue(KEY + "best-metric", "must name a metric, e.g. \"val_auc\"");
    }
    if (everySteps < 0) {
      throw new ConfigException.BadValue(KEY + "every-steps", "must be 0 (off) or more, got " + everySteps);
    }
    if (every.isNegative()) {
      throw new ConfigException.BadValue(KEY + "every", "must be 0 s (off) or more, got " + every);
    }
  }

  /** Reads {@code bagpipe.checkpoint}; a bad value is a {@link ConfigException.BadValue} naming its key. */
  public static CheckpointSettings fromConfig(Config checkpoint) {
    String dir = checkpoint.getString("dir");
    if (dir.isBlank()) {
      throw new ConfigException.BadValue(checkpoint.origin(), KEY + "dir", "must name a folder, e.g. \"checkpoints\"");
    }
    var keep = checkpoint.getValue("keep-last");
    if (!(keep.valueType() == ConfigValueType.NUMBER && keep.unwrapped() instanceof Integer keepLast && keepLast >= 1)) {
      throw new ConfigException.BadValue(keep.origin(), KEY + "keep-last", "must be an integer >= 1, got " + keep.render());
    }
    String metric = checkpoint.getString("best-metric");
    if (metric.isBlank()) {
      throw new ConfigException.BadValue(checkpoint.origin(), KEY + "best-metric", "must name a metric, e.g. \"val_auc\"");
    }
    var mode = checkpoint.getValue("best-mode");
    BestMode bestMode = switch (checkpoint.getString("best-mode").trim().toLowerCase(Locale.ROOT)) {
      case "max" -> BestMode.MAX;
      case "min" -> BestMode.MIN;
      default -> throw new ConfigException.BadValue(mode.origin(), KEY + "best-mode",
          "must be max or min, got " + mode.render());
    };
    return new CheckpointSettings(Path.of(dir), keepLast, metric, bestMode, checkpoint.getInt("every-steps"),
        checkpoint.getDuration("every"));
  }

  /** The checkpoint folder of a run whose directory is {@code runDir}. */
  public Path resolveDir(Path runDir) {
    return runDir.resolve(dir);
  }
}
