package io.bagpipe.coordinator;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Accumulates the bag predictions of one evaluation pass (or one training epoch)
 * and turns them into per-slide predictions. Each bag key is counted at most once
 * (exactly-once accounting): a second report of a key is an error naming it. Not
 * thread-safe; it lives inside the coordinator.
 */
public final class SlidePredictions {

  private final int classes;
  private final Set<Long> keys = new HashSet<>();
  private final Map<String, Sum> slides = new TreeMap<>();
  private double lossSum;

  /** An empty accumulator for predictions over {@code classes} classes (at least 2). */
  public SlidePredictions(int classes) {
    if (classes < 2) {
      throw new IllegalArgumentException("need at least 2 classes, got " + classes);
    }
    this.classes = classes;
  }

  /** Number of classes. */
  public int classes() {
    return classes;
  }

  /**
   * Counts one bag.
   *
   * @throws IllegalArgumentException when its key was already counted, its class count
   *     differs, or its slide was seen with another label
   */
  public void add(BagPrediction bag) {
    if (bag.probabilities().length != classes) {
      throw new IllegalArgumentException("bag " + bag.bagKey() + " of slide " + bag.slideId() + " has "
          + bag.probabilities().length + " class probabilities, expected " + classes);
    }
    Sum sum = slides.get(bag.slideId());
    if (sum != null && sum.label != bag.label()) {
      throw new IllegalArgumentException("bag " + bag.bagKey() + " gives slide " + bag.slideId() + " label " + bag.label()
          + ", its earlier bags gave " + sum.label);
    }
    if (!keys.add(bag.bagKey())) {
      throw new IllegalArgumentException("bag key " + bag.bagKey() + " (slide " + bag.slideId()
          + ") was already counted; every bag counts exactly once");
    }
    if (sum == null) {
      sum = new Sum(bag.label(), new double[classes]);
      slides.put(bag.slideId(), sum);
    }
    for (int c = 0; c < classes; c++) {
      sum.probabilities[c] += bag.probabilities()[c];
    }
    sum.bags++;
    lossSum += bag.loss();
  }

  /** Whether the bag with {@code key} was counted. */
  public boolean contains(long key) {
    return keys.contains(key);
  }

  /** Number of bags counted. */
  public int bags() {
    return keys.size();
  }

  /** Mean loss of the bags counted, NaN when none. */
  public double meanLoss() {
    return keys.isEmpty() ? Double.NaN : lossSum / keys.size();
  }

  /** One prediction per slide, the mean of its bags' probabilities, ordered by slide id. */
  public List<SlidePrediction> perSlide() {
    return slides.entrySet().stream().map(e -> {
      Sum s = e.getValue();
      double[] mean = new double[classes];
      for (int c = 0; c < classes; c++) {
        mean[c] = s.probabilities[c] / s.bags;
      }
      return new SlidePrediction(e.getKey(), s.label, mean, s.bags);
    }).toList();
  }

  private static final class Sum {
    final int label;
    final double[] probabilities;
    int bags;

    Sum(int label, double[] probabilities) {
      this.label = label;
      this.probabilities = probabilities;
    }
  }
}
