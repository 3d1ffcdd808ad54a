package io.bagpipe.coordinator;

import java.util.Arrays;
import java.util.Objects;

/**
 * The model's output for one bag, as a worker reports it to the coordinator.
 * {@code probabilities} is not copied; nobody writes to it after the report.
 *
 * @param bagKey the bag's run-unique key ({@code BagRef.key()}), counted at most once
 * @param slideId the slide the bag was cut from
 * @param label the slide's true class
 * @param probabilities class probabilities (softmax output): each in [0, 1], summing to 1
 * @param loss the bag's cross-entropy loss
 */
public record BagPrediction(long bagKey, String slideId, int label, double[] probabilities, double loss) {

  /** Largest accepted distance of the probabilities' sum from 1 (float32 softmax rounding is far below it). */
  static final double SUM_TOLERANCE = 1e-3;

  public BagPrediction {
    Objects.requireNonNull(slideId, "slideId");
    Objects.requireNonNull(probabilities, "probabilities");
    String bag = "bag " + bagKey + " of slide " + slideId;
    if (probabilities.length < 2) {
      throw new IllegalArgumentException(bag + ": needs a probability per class (at least 2), got " + probabilities.length);
    }
    if (label < 0 || label >= probabilities.length) {
      throw new IllegalArgumentException(bag + ": label " + label + " outside 0.." + (probabilities.length - 1));
    }
    double sum = 0;
    for (double p : probabilities) {
      if (!(p >= 0 && p <= 1)) {
        throw new IllegalArgumentException(bag + ": probabilities must lie in [0, 1], got " + Arrays.toString(probabilities));
      }
      sum += p;
    }
    if (Math.abs(sum - 1) > SUM_TOLERANCE) {
      throw new IllegalArgumentException(bag + ": probabilities sum to " + sum + ", not 1: " + Arrays.toString(probabilities));
    }
  }

  /** The cross-entropy {@code -ln p[label]} of these probabilities (p clamped to 1e-12 so it stays finite). */
  public static double crossEntropy(double[] probabilities, int label) {
    return -Math.log(Math.max(probabilities[label], 1e-12));
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BagPrediction b && bagKey == b.bagKey && label == b.label && slideId.equals(b.slideId)
        && Double.compare(loss, b.loss) == 0 && Arrays.equals(probabilities, b.probabilities);
  }

  @Override
  public int hashCode() {
    return Objects.hash(bagKey, slideId, label, loss) * 31 + Arrays.hashCode(probabilities);
  }

  @Override
  public String toString() {
    return "BagPrediction[bag " + bagKey + ", slide " + slideId + ", label " + label + ", "
        + Arrays.toString(probabilities) + ", loss " + loss + "]";
  }
}
