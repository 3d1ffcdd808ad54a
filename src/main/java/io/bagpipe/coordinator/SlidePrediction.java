package io.bagpipe.coordinator;

import java.util.Arrays;
import java.util.Objects;

/**
 * A slide's prediction: the mean of its bags' class probabilities.
 *
 * @param slideId the slide
 * @param label its true class
 * @param probabilities mean class probabilities over its bags
 * @param bags how many bags were averaged, at least 1
 */
public record SlidePrediction(String slideId, int label, double[] probabilities, int bags) {

  public SlidePrediction {
    Objects.requireNonNull(slideId, "slideId");
    probabilities = probabilities.clone();
    if (probabilities.length < 2 || label < 0 || label >= probabilities.length || bags < 1) {
      throw new IllegalArgumentException("slide " + slideId + ": label " + label + ", " + probabilities.length
          + " class probabilities, " + bags + " bags");
    }
  }

  /** The predicted class: the most probable one, the lowest index on ties. */
  public int predicted() {
    int best = 0;
    for (int c = 1; c < probabilities.length; c++) {
      if (probabilities[c] > probabilities[best]) {
        best = c;
      }
    }
    return best;
  }

  /** The probability of class {@code c}. */
  public double probability(int c) {
    return probabilities[c];
  }

  @Override
  public double[] probabilities() {
    return probabilities.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SlidePrediction s && label == s.label && bags == s.bags && slideId.equals(s.slideId)
        && Arrays.equals(probabilities, s.probabilities);
  }

  @Override
  public int hashCode() {
    return Objects.hash(slideId, label, bags) * 31 + Arrays.hashCode(probabilities);
  }

  @Override
  public String toString() {
    return "SlidePrediction[" + slideId + ", label " + label + ", " + Arrays.toString(probabilities) + ", " + bags + " bags]";
  }
}
