package io.bagpipe.slide.synth;

/**
 * Everything that determines one synthetic slide's pixels and patches.
 *
 * @param id slide id, also the file name stem ({@code synth_000})
 * @param label 1 when the slide holds tumour, else 0
 * @param width level-0 width in pixels
 * @param height level-0 height in pixels
 * @param seed the slide's own seed (derived from the data set seed and index)
 * @param tissueCoverage fraction of the slide covered by tissue, in (0, 1); drawn
 *     independently of the label so that it tells nothing about the class
 * @param denseFraction fraction of tissue patches that are dense regions: tumour on
 *     positive slides, benign lymphoid aggregates of the same colour on negatives
 * @param patchSize edge of the square patches listed in the coordinate file
 * @param densePatchCount when above 0, exactly this many grid patches are dense (tumour on a positive slide,
 *     lymphoid on a negative) and {@code denseFraction} is not used; 0: dense regions follow {@code denseFraction}
 */
public record SlideRecipe(String id, int label, int width, int height, long seed, double tissueCoverage,
    double denseFraction, int patchSize, int densePatchCount) {
  public SlideRecipe {
    if (id == null || !id.matches("[A-Za-z0-9_.-]+")) {
      throw new IllegalArgumentException("slide id must be letters, digits, '_', '.', '-': " + id);
    }
    if (label != 0 && label != 1) {
      throw new IllegalArgumentException(id + ": label must be 0 or 1, got " + label);
    }
    if (width < patchSize || height < patchSize) {
      throw new IllegalArgumentException(
          id + ": slide " + width + "x" + height + " is smaller than one patch of " + patchSize);
    }
    if (!(tissueCoverage > 0 && tissueCoverage < 1)) {
      throw new IllegalArgumentException(id + ": tissue coverage must be in (0, 1), got " + tissueCoverage);
    }
    if (!(denseFraction >= 0 && denseFraction <= 1)) {
      throw new IllegalArgumentException(id + ": dense fraction must be in [0, 1], got " + denseFraction);
    }
    if (patchSize < 16) {
      throw new IllegalArgumentException(id + ": patch size must be at least 16, got " + patchSize);
    }
    if (densePatchCount < 0) {
      throw new IllegalArgumentException(id + ": dense patch count must not be negative, got " + densePatchCount);
    }
    if (densePatchCount > 0 && (patchSize % TissueMap.CELL != 0 || patchSize < 2 * TissueMap.CELL)) {
      throw new IllegalArgumentException(id + ": counted dense patches need a patch size that is a multiple of "
          + TissueMap.CELL + " and at least " + 2 * TissueMap.CELL + ", got " + patchSize);
    }
  }

  /** A recipe whose dense regions follow {@code denseFraction}. */
  public SlideRecipe(String id, int label, int width, int height, long seed, double tissueCoverage,
      double denseFraction, int patchSize) {
    this(id, label, width, height, seed, tissueCoverage, denseFraction, patchSize, 0);
  }

  /** True for a tumour (label 1) slide. */
  public boolean positive() {
    return label == 1;
  }
}
