package io.bagpipe.slide.tissue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValueType;

/**
 * The {@code bagpipe.patch} settings: how tissue is found and which patches are kept.
 * CLAM's {@code segmentTissue} / {@code process_contours} are the reference; see
 * docs/patching.md for the mapping.
 *
 * @param patchSize side of a patch in pixels at {@code targetMpp}
 * @param targetMpp microns per pixel the patches are meant for; a patch covers
 *     {@code patchSize * targetMpp / slideMpp} level-0 pixels
 * @param assumeMpp level-0 microns per pixel taken for slides that do not say; 0: such a slide fails
 * @param minTissueFraction least fraction of a patch the tissue mask must cover for it to be kept
 * @param segDownsample downsample of the level the mask is computed on (the nearest level at or below it)
 * @param medianKernel side of the median blur on the saturation channel (odd)
 * @param closeKernel side of the square of the morphological closing (0: none)
 * @param minTissueArea least area of a tissue region, in patches (level-0 patch extent squared)
 * @param minHoleArea holes in tissue smaller than this, in patches, are filled
 * @param maxHoles most holes kept per tissue region (the largest)
 * @param thumbnailSize longest side of the thumbnail PNG, at least the mask's own size
 */
public record TissueSettings(int patchSize, double targetMpp, double assumeMpp, double minTissueFraction,
    double segDownsample, int medianKernel, int closeKernel, double minTissueArea, double minHoleArea, int maxHoles,
    int thumbnailSize) {

  private static final String KEY = "bagpipe.patch.";

  public TissueSettings {
    check(patchSize >= 1, "patch-size", "must be positive, got " + patchSize);
    check(targetMpp > 0 && targetMpp < 1000, "target-mpp", "must be in (0, 1000), got " + targetMpp);
    check(assumeMpp >= 0 && assumeMpp < 1000, "assume-mpp", "must be 0 (none) or in (0, 1000), got " + assumeMpp);
    check(minTissueFraction >= 0 && minTissueFraction <= 1, "min-tissue-fraction",
        "must be in [0, 1], got " + minTissueFraction);
    check(segDownsample >= 1, "seg-downsample", "must be >= 1, got " + segDownsample);
    check(medianKernel >= 1 && medianKernel % 2 == 1 && medianKernel <= 255, "median-kernel",
        "must be an odd integer in [1, 255], got " + medianKernel);
    check(closeKernel >= 0 && closeKernel <= 255, "close-kernel", "must be in [0, 255], got " + closeKernel);
    check(minTissueArea >= 0, "min-tissue-area", "must be >= 0, got " + minTissueArea);
    check(minHoleArea >= 0, "min-hole-area", "must be >= 0, got " + minHoleArea);
    check(maxHoles >= 0, "max-holes", "must be >= 0, got " + maxHoles);
    check(thumbnailSize >= 16, "thumbnail-size", "must be >= 16, got " + thumbnailSize);
  }

  /** Reads {@code bagpipe.patch} (pass {@code config.getConfig("bagpipe.patch")}); errors name the key. */
  public static TissueSettings fromConfig(Config c) {
    return new TissueSettings(integer(c, "patch-size"), number(c, "target-mpp"), number(c, "assume-mpp"),
        number(c, "min-tissue-fraction"), number(c, "seg-downsample"), integer(c, "median-kernel"),
        integer(c, "close-kernel"), number(c, "min-tissue-area"), number(c, "min-hole-area"), integer(c, "max-holes"),
        integer(c, "thumbnail-size"));
  }

  /** These settings with other patch size and target mpp (command-line options). */
  public TissueSettings with(int patchSize, double targetMpp, double assumeMpp, double minTissueFraction) {
    return new TissueSettings(patchSize, targetMpp, assumeMpp, minTissueFraction, segDownsample, medianKernel,
        closeKernel, minTissueArea, minHoleArea, maxHoles, thumbnailSize);
  }

  private static double number(Config c, String key) {
    var v = c.getValue(key);
    if (v.valueType() == ConfigValueType.NUMBER) {
      return ((Number) v.unwrapped()).doubleValue();
    }
    throw new ConfigException.BadValue(v.origin(), KEY + key, "must be a number, got " + v.render());
  }

  private static int integer(Config c, String key) {
    var v = c.getValue(key);
    if (v.valueType() == ConfigValueType.NUMBER && v.unwrapped() instanceof Integer n) {
      return n;
    }
    throw new ConfigException.BadValue(v.origin(), KEY + key, "must be an integer, got " + v.render());
  }

  private static void check(boolean ok, String key, String message) {
    if (!ok) {
      throw new IllegalArgumentException(KEY + key + " " + message);
    }
  }
}
