package io.bagpipe.bag;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValueType;
import java.util.Objects;

/**
 * How epoch plans cut bags ({@code bagpipe.plan}); see {@link EpochPlan} for the rules.
 *
 * @param seed seeds every shuffle of the plans (and nothing else)
 * @param bagNum most bags cut from one slide per epoch
 * @param bagSize patches per bag
 * @param patchSize side of the square patches in pixels
 * @param level pyramid level the patches are read at (coordinates are level 0)
 * @param bagsPerStep bags each worker processes per optimizer step (gradient accumulation)
 * @param targetMpp microns per pixel patches are read at (resized from the best level), or 0:
 *     {@code patchSize} pixels at {@code level}
 * @param featureDim 0: bags of pixels; D > 0: bags of rows of feature files with D features each
 *     (set from the data when {@code bagpipe.data.features} is, not read from {@code bagpipe.plan})
 */
public record PlanSettings(
    long seed, int bagNum, BagSize bagSize, int patchSize, int level, int bagsPerStep, double targetMpp,
    int featureDim) {

  private static final String KEY = "bagpipe.plan.";

  public PlanSettings {
    Objects.requireNonNull(bagSize, "bagSize");
    require(bagNum >= 1, "bag-num must be positive, got " + bagNum);
    require(patchSize >= 1, "patch-size must be positive, got " + patchSize);
    require(level >= 0, "level must be >= 0, got " + level);
    require(bagsPerStep >= 1, "bags-per-step must be positive, got " + bagsPerStep);
    require(targetMpp >= 0 && targetMpp < 1000, "target-mpp must be 0 (off) or in (0, 1000), got " + targetMpp);
    require(targetMpp == 0 || level == 0, "level must be 0 when target-mpp is set (the level is then chosen per slide)");
    require(featureDim >= 0, "feature dimension must be >= 0, got " + featureDim);
  }

  /** Settings for bags of pixels. */
  public PlanSettings(long seed, int bagNum, BagSize bagSize, int patchSize, int level, int bagsPerStep,
      double targetMpp) {
    this(seed, bagNum, bagSize, patchSize, level, bagsPerStep, targetMpp, 0);
  }

  /** These settings cutting bags of feature rows of {@code dim} features (0: pixels). */
  public PlanSettings withFeatureDim(int dim) {
    return new PlanSettings(seed, bagNum, bagSize, patchSize, level, bagsPerStep, targetMpp, dim);
  }

  /** Settings that read {@code patchSize} pixels at {@code level} (no target mpp). */
  public PlanSettings(long seed, int bagNum, BagSize bagSize, int patchSize, int level, int bagsPerStep) {
    this(seed, bagNum, bagSize, patchSize, level, bagsPerStep, 0);
  }

  /** Reads {@code bagpipe.plan}; a bad value is a {@link ConfigException.BadValue} naming its key. */
  public static PlanSettings fromConfig(Config plan) {
    return new PlanSettings(
        plan.getLong("seed"),
        atLeast(plan, "bag-num", 1),
        bagSize(plan),
        atLeast(plan, "patch-size", 1),
        atLeast(plan, "level", 0),
        atLeast(plan, "bags-per-step", 1),
        targetMpp(plan));
  }

  private static double targetMpp(Config plan) {
    var v = plan.getValue("target-mpp");
    if (v.valueType() == ConfigValueType.NUMBER && v.unwrapped() instanceof Number n) {
      double d = n.doubleValue();
      if (d >= 0 && d < 1000) {
        if (d > 0 && plan.getInt("level") != 0) {
          throw new ConfigException.BadValue(v.origin(), KEY + "target-mpp",
              "needs " + KEY + "level = 0 (the level is then chosen per slide), but level is " + plan.getInt("level"));
        }
        return d;
      }
    }
    throw new ConfigException.BadValue(v.origin(), KEY + "target-mpp",
        "must be 0 (off) or microns per pixel in (0, 1000), got " + v.render());
  }

  private static BagSize bagSize(Config plan) {
    var v = plan.getValue("bag-size");
    if (v.valueType() == ConfigValueType.STRING && "all".equalsIgnoreCase(plan.getString("bag-size").trim())) {
      return new BagSize.All();
    }
    if (v.valueType() == ConfigValueType.NUMBER
        && v.unwrapped() instanceof Integer n
        && n >= 1) {
      return new BagSize.Fixed(n);
    }
    throw new ConfigException.BadValue(v.origin(), KEY + "bag-size",
        "must be a positive integer or \"all\", got " + v.render());
  }

  static int atLeast(Config c, String key, int min) {
    return atLeast(c, KEY, key, min);
  }

  static int atLeast(Config c, String prefix, String key, int min) {
    var v = c.getValue(key);
    if (v.valueType() == ConfigValueType.NUMBER && v.unwrapped() instanceof Integer n && n >= min) {
      return n;
    }
    throw new ConfigException.BadValue(v.origin(), prefix + key,
        "must be an integer >= " + min + ", got " + v.render());
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }
}
