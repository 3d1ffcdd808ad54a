package io.bagpipe.bag;

import java.util.Arrays;
import java.util.Objects;

/**
 * One bag by reference: the slide to read, which patches, and the label they share.
 * Plain data only (strings, ints, one {@code int[]}) so it can cross the cluster as
 * a message; no pixels, no open slide.
 *
 * <p>{@code key} identifies the bag within a run, for exactly-once accounting:
 * training bag i of epoch e has key {@link #trainingKey trainingKey(e, i)} (non-negative),
 * validation bag i has key {@link #validationKey validationKey(i)} (negative) and
 * {@code epoch == -1}, the same in every epoch.
 *
 * <p>{@code coordinates} is interleaved level-0 {@code x,y} and is not copied: the
 * plan hands each bag its own array, and nobody writes to it afterwards.
 *
 * @param slideId the slide's id
 * @param slidePath the slide file, as a string
 * @param label class index shared by the bag's patches
 * @param coordinates interleaved level-0 top-left {@code x,y} of the patches
 * @param patchSize side of the square patches in pixels
 * @param level pyramid level to read at
 * @param epoch training epoch, or -1 for a validation bag
 * @param key unique within the run, see above
 * @param targetMpp microns per pixel to read the patches at (each covers
 *     {@code patchSize * targetMpp / slideMpp} level-0 pixels, resized to {@code patchSize}),
 *     or 0: {@code patchSize} pixels at {@code level}
 * @param featureDim 0 for a bag of pixels; D > 0 for a bag of precomputed features
 *     ({@code bagpipe.data.features}): {@code slidePath} is then the slide's feature file and
 *     each coordinate pair is {@code (row, 0)}, the row of the file holding the patch's D features
 */
public record BagRef(String slideId, String slidePath, int label, int[] coordinates, int patchSize, int level, int epoch,
    long key, double targetMpp, int featureDim) {

  public BagRef {
    Objects.requireNonNull(slideId, "slideId");
    Objects.requireNonNull(slidePath, "slidePath");
    Objects.requireNonNull(coordinates, "coordinates");
    if (coordinates.length == 0 || coordinates.length % 2 != 0) {
      throw new IllegalArgumentException("bag of slide " + slideId + " needs x,y pairs, got " + coordinates.length + " values");
    }
    if (label < 0 || patchSize < 1 || level < 0 || epoch < -1) {
      throw new IllegalArgumentException("bad bag of slide " + slideId + ": label " + label + ", patch size "
          + patchSize + ", level " + level + ", epoch " + epoch);
    }
    if ((key < 0) != (epoch == -1)) {
      throw new IllegalArgumentException("bag key " + key + " does not match epoch " + epoch);
    }
    if (featureDim < 0) {
      throw new IllegalArgumentException("bad bag of slide " + slideId + ": feature dimension " + featureDim);
    }
    if (!(targetMpp >= 0) || targetMpp > 0 && level != 0) {
      throw new IllegalArgumentException("bad bag of slide " + slideId + ": target mpp " + targetMpp + " at level " + level);
    }
  }

  /** A bag of pixels. */
  public BagRef(String slideId, String slidePath, int label, int[] coordinates, int patchSize, int level, int epoch,
      long key, double targetMpp) {
    this(slideId, slidePath, label, coordinates, patchSize, level, epoch, key, targetMpp, 0);
  }

  /** Whether this bag is rows of a feature file rather than patches to decode. */
  public boolean features() {
    return featureDim > 0;
  }

  /** A bag read at {@code level} with no target mpp. */
  public BagRef(String slideId, String slidePath, int label, int[] coordinates, int patchSize, int level, int epoch,
      long key) {
    this(slideId, slidePath, label, coordinates, patchSize, level, epoch, key, 0);
  }

  /** Key of training bag {@code index} of {@code epoch}. */
  public static long trainingKey(int epoch, int index) {
    return ((long) epoch << 32) | (index & 0xFFFFFFFFL);
  }

  /** Key of validation bag {@code index}. */
  public static long validationKey(int index) {
    return -1L - index;
  }

  /** Whether this bag belongs to the validation plan. */
  public boolean validation() {
    return epoch == -1;
  }

  /** Number of patches. */
  public int size() {
    return coordinates.length / 2;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BagRef b
        && key == b.key && epoch == b.epoch && featureDim == b.featureDim && label == b.label && patchSize == b.patchSize && level == b.level
        && Double.compare(targetMpp, b.targetMpp) == 0
        && slideId.equals(b.slideId) && slidePath.equals(b.slidePath) && Arrays.equals(coordinates, b.coordinates);
  }

  @Override
  public int hashCode() {
    return Objects.hash(slideId, slidePath, label, patchSize, level, epoch, key, targetMpp, featureDim) * 31 + Arrays.hashCode(coordinates);
  }

  @Override
  public String toString() {
    return "BagRef[" + (validation() ? "val " + (-1 - key) : "epoch " + epoch + " #" + (int) key) + ", slide "
        + slideId + ", label " + label + ", " + size() + (featureDim > 0 ? " rows of " + featureDim + " features]"
        : " patches of " + patchSize + " px at " + (targetMpp > 0 ? targetMpp + " um/px" : "level " + level) + "]");
  }
}
