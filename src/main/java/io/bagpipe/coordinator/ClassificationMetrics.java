package io.bagpipe.coordinator;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Slide-level classification metrics of one evaluation pass.
 *
 * <p>ROC AUC is the Mann–Whitney statistic: the probability that a random positive
 * slide scores higher than a random negative one, ties counting 1/2. With 2 classes
 * the score is the probability of class 1; with more, it is the macro average of the
 * one-vs-rest AUCs of the classes for which both positives and negatives exist. It is
 * NaN when it is undefined (only one class present).
 *
 * @param classes number of classes
 * @param slides slides evaluated
 * @param accuracy fraction of slides whose most probable class is their label, NaN when none
 * @param confusion slides by true class (row) and predicted class (column)
 * @param auc ROC AUC as above
 * @param loss mean cross-entropy loss of the bags, NaN when none
 */
public record ClassificationMetrics(int classes, int slides, double accuracy, ConfusionMatrix confusion, double auc,
    double loss) {

  public ClassificationMetrics {
    Objects.requireNonNull(confusion, "confusion");
    if (classes < 2 || slides < 0 || confusion.classes() != classes || confusion.total() != slides) {
      throw new IllegalArgumentException("inconsistent metrics: " + classes + " classes, " + slides
          + " slides, confusion " + confusion);
    }
  }

  /** The metrics of the slides accumulated in {@code predictions}. */
  public static ClassificationMetrics of(SlidePredictions predictions) {
    return of(predictions.classes(), predictions.perSlide(), predictions.meanLoss());
  }

  /**
   * The metrics of {@code slides} over {@code classes} classes.
   *
   * @param meanBagLoss mean loss of the bags behind the slides (reported as is)
   */
  public static ClassificationMetrics of(int classes, List<SlidePrediction> slides, double meanBagLoss) {
    int n = slides.size();
    int[] actual = new int[n];
    int[] predicted = new int[n];
    for (int i = 0; i < n; i++) {
      SlidePrediction s = slides.get(i);
      if (s.probabilities().length != classes) {
        throw new IllegalArgumentException("slide " + s.slideId() + " has " + s.probabilities().length
            + " class probabilities, expected " + classes);
      }
      actual[i] = s.label();
      predicted[i] = s.predicted();
    }
    ConfusionMatrix confusion = ConfusionMatrix.tally(classes, actual, predicted);
    double accuracy = n == 0 ? Double.NaN : (double) confusion.correct() / n;
    double auc = classes == 2 ? oneVsRestAuc(slides, 1) : macroAuc(classes, slides);
    return new ClassificationMetrics(classes, n, accuracy, confusion, auc, meanBagLoss);
  }

  /** The macro average of the defined one-vs-rest AUCs, NaN when none is defined. */
  static double macroAuc(int classes, List<SlidePrediction> slides) {
    double sum = 0;
    int defined = 0;
    for (int c = 0; c < classes; c++) {
      double auc = oneVsRestAuc(slides, c);
      if (!Double.isNaN(auc)) {
        sum += auc;
        defined++;
      }
    }
    return defined == 0 ? Double.NaN : sum / defined;
  }

  /** The AUC of class {@code c}'s probability at telling class {@code c} from the rest. */
  static double oneVsRestAuc(List<SlidePrediction> slides, int c) {
    double[] scores = new double[slides.size()];
    boolean[] positive = new boolean[slides.size()];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = slides.get(i).probability(c);
      positive[i] = slides.get(i).label() == c;
    }
    return rocAuc(scores, positive);
  }

  /**
   * ROC AUC by the Mann–Whitney U statistic: ranks all scores (tied scores get the
   * mean of their ranks), then {@code AUC = (R+ - n+(n+ + 1)/2) / (n+ n-)} where
   * {@code R+} is the positives' rank sum. This equals counting, over all
   * positive/negative pairs, 1 when the positive scores higher and 1/2 on a tie.
   * O(n log n). NaN when there are no positives or no negatives; a NaN score is an error.
   */
  public static double rocAuc(double[] scores, boolean[] positive) {
    if (scores.length != positive.length) {
      throw new IllegalArgumentException(scores.length + " scores for " + positive.length + " labels");
    }
    int n = scores.length;
    for (double s : scores) {
      if (Double.isNaN(s)) {
        throw new IllegalArgumentException("NaN score among " + n + " scores");
      }
    }
    long positives = 0;
    for (boolean p : positive) {
      positives += p ? 1 : 0;
    }
    long negatives = n - positives;
    if (positives == 0 || negatives == 0) {
      return Double.NaN;
    }
    Integer[] order = new Integer[n];
    Arrays.setAll(order, i -> i);
    Arrays.sort(order, (a, b) -> Double.compare(scores[a], scores[b]));
    double positiveRankSum = 0;
    for (int start = 0; start < n; ) {
      int end = start;
      while (end + 1 < n && scores[order[end + 1]] == scores[order[start]]) {
        end++;
      }
      double meanRank = (start + end) / 2.0 + 1; // ranks are 1-based
      for (int k = start; k <= end; k++) {
        if (positive[order[k]]) {
          positiveRankSum += meanRank;
        }
      }
      start = end + 1;
    }
    double u = positiveRankSum - positives * (positives + 1) / 2.0;
    return u / ((double) positives * negatives);
  }
}
