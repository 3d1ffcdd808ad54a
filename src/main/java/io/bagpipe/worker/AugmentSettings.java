package io.bagpipe.worker;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;

/**
 * The {@code bagpipe.augment} settings: random changes to training patches, made on the device
 * after the uint8 upload and before normalisation. Validation and test bags are never augmented.
 *
 * @param flips mirror each patch left-right and/or top-bottom, each with probability 1/2
 * @param rotations rotate each patch by 0, 90, 180 or 270 degrees, uniformly
 * @param hedStrength HED stain jitter: each of the haematoxylin, eosin and DAB optical densities
 *     is scaled by a factor from U(1 - s, 1 + s) and shifted by U(-s, s) (0: none)
 * @param brightness each patch's values are multiplied by U(1 - b, 1 + b) (0: none)
 * @param contrast each patch's deviation from its own mean is multiplied by U(1 - c, 1 + c) (0: none)
 */
public record AugmentSettings(boolean flips, boolean rotations, double hedStrength, double brightness,
    double contrast) {

  private static final String KEY = "bagpipe.augment.";

  public AugmentSettings {
    require(hedStrength >= 0 && hedStrength < 1, "hed-strength", hedStrength);
    require(brightness >= 0 && brightness < 1, "brightness", brightness);
    require(contrast >= 0 && contrast < 1, "contrast", contrast);
  }

  /** No augmentation. */
  public static AugmentSettings off() {
    return new AugmentSettings(false, false, 0, 0, 0);
  }

  /** Whether anything changes a patch. */
  public boolean enabled() {
    return flips || rotations || hedStrength > 0 || brightness > 0 || contrast > 0;
  }

  /** Reads {@code bagpipe.augment}; a bad value is a {@link ConfigException.BadValue} naming its key. */
  public static AugmentSettings fromConfig(Config c) {
    double hed = fraction(c, "hed-strength");
    double brightness = fraction(c, "brightness");
    double contrast = fraction(c, "contrast");
    return new AugmentSettings(c.getBoolean("flips"), c.getBoolean("rotations"), hed, brightness, contrast);
  }

  private static double fraction(Config c, String key) {
    double v = c.getDouble(key);
    if (!(v >= 0 && v < 1)) {
      throw new ConfigException.BadValue(c.getValue(key).origin(), KEY + key, "must be in [0, 1), got " + v);
    }
    return v;
  }

  private static void require(boolean ok, String key, double value) {
    if (!ok) {
      throw new IllegalArgumentException(KEY + key + " must be in [0, 1), got " + value);
    }
  }
}
