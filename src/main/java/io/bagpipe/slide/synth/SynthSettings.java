package io.bagpipe.slide.synth;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code bagpipe.synth} settings: what {@code bagpipe synth} writes.
 *
 * @param out folder of the data set
 * @param slides number of slides, half negative and half positive
 * @param width level-0 width of every slide
 * @param height level-0 height of every slide
 * @param tumourFraction fraction of a slide's tissue patches that lie in dense regions:
 *     tumour on positive slides, benign lymphoid aggregates on negatives
 * @param tissueMin least fraction of a slide covered by tissue
 * @param tissueMax most fraction of a slide covered by tissue
 * @param patchSize side of the patches listed in the coordinate files (grid stride)
 * @param folds folds written to the manifest (stratified by label)
 * @param seed the data set's seed: the same seed and settings give the same bytes
 * @param jpegQuality JPEG quality of the tiles, in (0, 1]
 * @param micronsPerPixel physical size of a level-0 pixel
 * @param tumourPatchesMin least number of grid patches painted as tumour on a positive slide (lymphoid on a
 *     negative); 0 together with {@code tumourPatchesMax} 0: dense regions follow {@code tumourFraction}
 * @param tumourPatchesMax most such grid patches; each slide draws its count in [min, max] from the seed
 */
public record SynthSettings(Path out, int slides, int width, int height, double tumourFraction, double tissueMin,
    double tissueMax, int patchSize, int folds, long seed, float jpegQuality, double micronsPerPixel,
    int tumourPatchesMin, int tumourPatchesMax) {

  private static final String KEY = "bagpipe.synth.";

  public SynthSettings {
    check(slides >= 2, "slides", "must be at least 2 (one per class), got " + slides);
    check(patchSize >= 16, "patch-size", "must be at least 16, got " + patchSize);
    check(width >= 2 * patchSize && height >= 2 * patchSize, "width",
        "width and height must hold at least 2 patches of " + patchSize + ", got " + width + "x" + height);
    check((long) width * height * 3 / 8 < PyramidalTiffWriter.MAX_CLASSIC_TIFF_BYTES, "width",
        "a " + width + "x" + height + " slide may pass the 4 GiB of a classic TIFF; use fewer pixels");
    check(tumourFraction > 0 && tumourFraction < 0.5, "tumour-fraction",
        "must be in (0, 0.5): tumour is a minority of the tissue, got " + tumourFraction);
    check(tissueMin > 0 && tissueMin <= tissueMax && tissueMax < 1, "tissue-coverage",
        "must be [min, max] with 0 < min <= max < 1, got [" + tissueMin + ", " + tissueMax + "]");
    check(folds >= 1 && folds <= slides / 2, "folds", "must be in [1, slides / 2], got " + folds);
    check(jpegQuality > 0 && jpegQuality <= 1, "jpeg-quality", "must be in (0, 1], got " + jpegQuality);
    check(micronsPerPixel > 0 && micronsPerPixel < 1000, "microns-per-pixel", "must be in (0, 1000), got " + micronsPerPixel);
    check((tumourPatchesMin == 0 && tumourPatchesMax == 0) || (tumourPatchesMin >= 1 && tumourPatchesMin <= tumourPatchesMax),
        "tumour-patches", "must be [min, max] with 1 <= min <= max, or [0, 0] for tumour-fraction's regions, got ["
            + tumourPatchesMin + ", " + tumourPatchesMax + "]");
    check(tumourPatchesMax == 0 || (patchSize % TissueMap.CELL == 0 && patchSize >= 2 * TissueMap.CELL), "patch-size",
        "must be a multiple of " + TissueMap.CELL + " and at least " + 2 * TissueMap.CELL
            + " when bagpipe.synth.tumour-patches is set (tumour fills whole grid cells), got " + patchSize);
  }

  /** Settings with dense regions drawn by {@code tumourFraction} (no {@code tumour-patches}). */
  public SynthSettings(Path out, int slides, int width, int height, double tumourFraction, double tissueMin,
      double tissueMax, int patchSize, int folds, long seed, float jpegQuality, double micronsPerPixel) {
    this(out, slides, width, height, tumourFraction, tissueMin, tissueMax, patchSize, folds, seed, jpegQuality,
        micronsPerPixel, 0, 0);
  }

  /** Whether positives hold a counted number of tumour grid patches ({@code tumour-patches} set). */
  public boolean countedTumour() {
    return tumourPatchesMax > 0;
  }

  private static void check(boolean ok, String key, String message) {
    if (!ok) {
      throw new IllegalArgumentException(KEY + key + " " + message);
    }
  }

  /** Reads {@code bagpipe.synth} (pass {@code config.getConfig("bagpipe.synth")}). */
  public static SynthSettings fromConfig(Config c) {
    try {
      List<Double> tissue = c.getDoubleList("tissue-coverage");
      if (tissue.size() != 2) {
        throw new IllegalArgumentException(KEY + "tissue-coverage must be [min, max], got " + tissue);
      }
      List<Integer> counted = c.getIntList("tumour-patches");
      if (counted.size() != 2) {
        throw new IllegalArgumentException(KEY + "tumour-patches must be [min, max] (or [0, 0]: off), got " + counted);
      }
      return new SynthSettings(Path.of(c.getString("out")), c.getInt("slides"), c.getInt("width"), c.getInt("height"),
          c.getDouble("tumour-fraction"), tissue.get(0), tissue.get(1), c.getInt("patch-size"), c.getInt("folds"),
          c.getLong("seed"), (float) c.getDouble("jpeg-quality"), c.getDouble("microns-per-pixel"), counted.get(0),
          counted.get(1));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.synth: " + e.getMessage(), e);
    }
  }

  /** These settings with another output folder. */
  public SynthSettings withOut(Path folder) {
    return new SynthSettings(folder, slides, width, height, tumourFraction, tissueMin, tissueMax, patchSize, folds, seed,
        jpegQuality, micronsPerPixel, tumourPatchesMin, tumourPatchesMax);
  }

  /** A line that changes whenever the bytes written would: kept in dataset.json to reuse a data set. */
  String fingerprint() {
    String line = String.format(java.util.Locale.ROOT, "v1 slides=%d size=%dx%d tumour=%s tissue=%s-%s patch=%d folds=%d seed=%d q=%s mpp=%s",
        slides, width, height, tumourFraction, tissueMin, tissueMax, patchSize, folds, seed, jpegQuality, micronsPerPixel);
    // Appended only when set, so a data set written before the key existed keeps its line (and its bytes).
    return countedTumour() ? line + " tumour-patches=" + tumourPatchesMin + "-" + tumourPatchesMax : line;
  }
}
