package io.bagpipe.coordinator;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.nio.file.Path;

/**
 * The {@code bagpipe.train} settings.
 *
 * @param epochs epochs to train (a resumed run stops at the same total)
 * @param runDir where metrics, checkpoints and the run's record go
 * @param resume continue from the newest good checkpoint in {@code runDir} when there is one
 * @param workers workers, over all nodes, that must be up before the ring forms and training starts
 * @param maxQuarantined the largest fraction of the data set's slides that may be quarantined
 *     (their reads failed) before the run ends
 * @param patience epochs without an improvement of the best metric after which the run ends
 *     (early stopping); 0 for never
 * @param minDelta least change of the best metric that counts as an improvement for early stopping
 */
public record TrainSettings(int epochs, Path runDir, boolean resume, int workers, double maxQuarantined,
    int patience, double minDelta) {
  public TrainSettings {
    if (patience < 0) {
      throw new IllegalArgumentException("bagpipe.train.early-stopping.patience must be >= 0 (0: off), got " + patience);
    }
    if (!(minDelta >= 0) || Double.isInfinite(minDelta)) {
      throw new IllegalArgumentException("bagpipe.train.early-stopping.min-delta must be >= 0, got " + minDelta);
    }
    if (epochs < 1) {
      throw new IllegalArgumentException("bagpipe.train.epochs must be >= 1, got " + epochs);
    }
    if (workers < 1) {
      throw new IllegalArgumentException("need at least one worker, got " + workers);
    }
    if (!(maxQuarantined >= 0 && maxQuarantined <= 1)) {
      throw new IllegalArgumentException("bagpipe.train.max-quarantined must be a fraction from 0 to 1, got "
          + maxQuarantined);
    }
  }

  /** The settings without early stopping. */
  public TrainSettings(int epochs, Path runDir, boolean resume, int workers, double maxQuarantined) {
    this(epochs, runDir, resume, workers, maxQuarantined, 0, 0);
  }

  /** Reads {@code bagpipe.train}; {@code workers} comes from the devices in use. */
  public static TrainSettings fromConfig(Config c, int workers) {
    try {
      return new TrainSettings(c.getInt("epochs"), Path.of(c.getString("run-dir")), c.getBoolean("resume"), workers,
          c.getDouble("max-quarantined"), c.getInt("early-stopping.patience"),
          c.getDouble("early-stopping.min-delta"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.train: " + e.getMessage(), e);
    }
  }
}
