package io.bagpipe.bag;

import com.typesafe.config.Config;
import java.util.Objects;

/**
 * Cross-validation folds ({@code bagpipe.plan.folds}): how many, how they are drawn
 * and which of them train and validate. See {@link Folds}.
 *
 * @param k number of folds
 * @param seed seeds the per-class shuffle that assigns folds (unused when the manifest gives folds)
 * @param split the training and validation folds
 */
public record FoldSettings(int k, long seed, FoldSplit split) {

  private static final String KEY = "bagpipe.plan.folds.";

  public FoldSettings {
    Objects.requireNonNull(split, "split");
    if (k < 1) {
      throw new IllegalArgumentException("k must be positive, got " + k);
    }
    for (int f : split.train()) {
      if (f > k) {
        throw new IllegalArgumentException("training fold " + f + " is outside 1.." + k);
      }
    }
    for (int f : split.validation()) {
      if (f > k) {
        throw new IllegalArgumentException("validation fold " + f + " is outside 1.." + k);
      }
    }
  }

  /** Reads {@code bagpipe.plan.folds}; a bad value is a {@link com.typesafe.config.ConfigException.BadValue} naming its key. */
  public static FoldSettings fromConfig(Config folds) {
    int k = PlanSettings.atLeast(folds, KEY, "k", 1);
    return new FoldSettings(k, folds.getLong("seed"),
        FoldSplit.parse(KEY + "train", folds.getString("train"), KEY + "val", folds.getString("val"), k));
  }
}
