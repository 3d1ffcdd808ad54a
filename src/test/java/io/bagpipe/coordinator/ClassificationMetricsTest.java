package io.bagpipe.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ClassificationMetricsTest {

  private static boolean[] labels(int... ones) {
    boolean[] b = new boolean[ones.length];
    for (int i = 0; i < ones.length; i++) {
      b[i] = ones[i] == 1;
    }
    return b;
  }

  @Test
  void aucOfHandComputedCases() {
    assertEquals(1.0, ClassificationMetrics.rocAuc(new double[] {0.1, 0.2, 0.8, 0.9}, labels(0, 0, 1, 1)));
    assertEquals(0.0, ClassificationMetrics.rocAuc(new double[] {0.9, 0.8, 0.2, 0.1}, labels(0, 0, 1, 1)));
    assertEquals(0.5, ClassificationMetrics.rocAuc(new double[] {0.3, 0.3, 0.3, 0.3, 0.3}, labels(0, 1, 0, 1, 1)));
    // Positives score 0.4 and 0.8; negatives 0.1, 0.4, 0.4.
    // 0.4 beats 0.1 (1) and ties both 0.4s (1/2 + 1/2); 0.8 beats all three: (2 + 3) / (2 * 3).
    assertEquals(5.0 / 6, ClassificationMetrics.rocAuc(new double[] {0.1, 0.4, 0.4, 0.8, 0.4}, labels(0, 1, 0, 1, 0)),
        1e-15);
    // One positive below one of two negatives: 1 of 2 pairs.
    assertEquals(0.5, ClassificationMetrics.rocAuc(new double[] {0.2, 0.5, 0.7}, labels(0, 1, 0)));
  }

  @Test
  void aucIsUndefinedWithOneClass() {
    assertTrue(Double.isNaN(ClassificationMetrics.rocAuc(new double[] {0.1, 0.9}, labels(1, 1))));
    assertTrue(Double.isNaN(ClassificationMetrics.rocAuc(new double[] {0.1, 0.9}, labels(0, 0))));
    assertTrue(Double.isNaN(ClassificationMetrics.rocAuc(new double[0], new boolean[0])));
    assertThrows(IllegalArgumentException.class, () -> ClassificationMetrics.rocAuc(new double[] {Double.NaN, 1}, labels(0, 1)));
  }

  @ParameterizedTest(name = "{0} slides")
  @ValueSource(ints = {2, 7, 50, 301})
  void aucEqualsPairCountingWithTies(int n) {
    Random r = new Random(n);
    double[] scores = new double[n];
    boolean[] positive = new boolean[n];
    for (int i = 0; i < n; i++) {
      scores[i] = r.nextInt(6) / 5.0; // few distinct values: many ties
      positive[i] = i == 0 || i != 1 && r.nextBoolean();
    }
    double pairs = 0;
    double wins = 0;
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        if (positive[i] && !positive[j]) {
          pairs++;
          wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
        }
      }
    }
    assertEquals(wins / pairs, ClassificationMetrics.rocAuc(scores, positive), 1e-12);
  }

  private static SlidePrediction slide(String id, int label, double... p) {
    return new SlidePrediction(id, label, p, 1);
  }

  @Test
  void binaryAccuracyConfusionAndAuc() {
    List<SlidePrediction> slides = List.of(
        slide("a", 0, 0.9, 0.1), slide("b", 0, 0.4, 0.6), slide("c", 1, 0.3, 0.7),
        slide("d", 1, 0.6, 0.4), slide("e", 1, 0.2, 0.8), slide("f", 0, 0.5, 0.5));
    ClassificationMetrics m = ClassificationMetrics.of(2, slides, 0.25);
    // f ties at 0.5/0.5 and is predicted class 0 (lowest index).
    assertArrayEquals(new long[][] {{2, 1}, {1, 2}}, m.confusion().rows());
    assertEquals(4.0 / 6, m.accuracy(), 1e-15);
    // class-1 scores: negatives 0.1, 0.6, 0.5; positives 0.7, 0.4, 0.8 -> wins 3 + 1 + 3 = 7 of 9
    assertEquals(7.0 / 9, m.auc(), 1e-15);
    assertEquals(0.25, m.loss());
    assertEquals(6, m.slides());
  }

  @Test
  void macroOneVsRestAucAboveTwoClasses() {
    List<SlidePrediction> perfect = List.of(
        slide("a", 0, 0.8, 0.1, 0.1), slide("b", 1, 0.1, 0.8, 0.1), slide("c", 2, 0.1, 0.1, 0.8),
        slide("d", 2, 0.2, 0.2, 0.6));
    ClassificationMetrics m = ClassificationMetrics.of(3, perfect, 0.1);
    assertEquals(1.0, m.auc());
    assertEquals(1.0, m.accuracy());
    assertArrayEquals(new long[][] {{1, 0, 0}, {0, 1, 0}, {0, 0, 2}}, m.confusion().rows());

    // Class 2 absent: its one-vs-rest AUC is undefined and left out of the mean.
    // class 0: positives a 0.5, c 0.25 vs negative b 0.3 -> 1 of 2 pairs;
    // class 1: positive b 0.6 vs negatives a 0.4, c 0.55 -> 2 of 2.
    List<SlidePrediction> partial = List.of(
        slide("a", 0, 0.5, 0.4, 0.1), slide("b", 1, 0.3, 0.6, 0.1), slide("c", 0, 0.25, 0.55, 0.2));
    assertEquals((0.5 + 1.0) / 2, ClassificationMetrics.of(3, partial, 0).auc(), 1e-15);
  }

  @Test
  void noSlidesGiveNaNs() {
    ClassificationMetrics m = ClassificationMetrics.of(new SlidePredictions(2));
    assertTrue(Double.isNaN(m.accuracy()));
    assertTrue(Double.isNaN(m.auc()));
    assertTrue(Double.isNaN(m.loss()));
    assertEquals(0, m.confusion().total());
  }

  @Test
  void slidePredictionsAverageTheirBags() {
    SlidePredictions p = new SlidePredictions(2);
    p.add(new BagPrediction(-1, "s1", 1, new double[] {0.2, 0.8}, 0.2));
    p.add(new BagPrediction(-2, "s1", 1, new double[] {0.6, 0.4}, 0.9));
    p.add(new BagPrediction(-3, "s0", 0, new double[] {0.7, 0.3}, 0.4));
    p.add(new BagPrediction(-4, "s1", 1, new double[] {0.1, 0.9}, 0.1));
    List<SlidePrediction> slides = p.perSlide();
    assertEquals(List.of("s0", "s1"), slides.stream().map(SlidePrediction::slideId).toList());
    assertArrayEquals(new double[] {0.7, 0.3}, slides.get(0).probabilities(), 1e-15);
    assertArrayEquals(new double[] {0.3, 0.7}, slides.get(1).probabilities(), 1e-15);
    assertEquals(3, slides.get(1).bags());
    assertEquals(4, p.bags());
    assertEquals((0.2 + 0.9 + 0.4 + 0.1) / 4, p.meanLoss(), 1e-15);
    assertTrue(p.contains(-3));
    assertFalse(p.contains(-5));
    ClassificationMetrics m = ClassificationMetrics.of(p);
    assertEquals(1.0, m.accuracy());
    assertEquals(1.0, m.auc());
    assertEquals(p.meanLoss(), m.loss());
  }

  @Test
  void aBagCountsExactlyOnce() {
    SlidePredictions p = new SlidePredictions(2);
    p.add(new BagPrediction(42, "s1", 1, new double[] {0.2, 0.8}, 0.2));
    var e = assertThrows(IllegalArgumentException.class,
        () -> p.add(new BagPrediction(42, "s1", 1, new double[] {0.2, 0.8}, 0.2)));
    assertTrue(e.getMessage().contains("bag key 42"), e.getMessage());
    assertEquals(1, p.bags());
    assertEquals(0.2, p.meanLoss());
    assertArrayEquals(new double[] {0.2, 0.8}, p.perSlide().getFirst().probabilities());
  }

  @Test
  void inconsistentBagsAreRejectedByName() {
    SlidePredictions p = new SlidePredictions(2);
    p.add(new BagPrediction(1, "s1", 1, new double[] {0.2, 0.8}, 0.2));
    var label = assertThrows(IllegalArgumentException.class,
        () -> p.add(new BagPrediction(2, "s1", 0, new double[] {0.2, 0.8}, 0.2)));
    assertTrue(label.getMessage().contains("slide s1"), label.getMessage());
    assertFalse(p.contains(2));
    assertThrows(IllegalArgumentException.class, () -> p.add(new BagPrediction(3, "s2", 0, new double[] {0.2, 0.7, 0.1}, 0)));
    var sum = assertThrows(IllegalArgumentException.class, () -> new BagPrediction(4, "s3", 0, new double[] {0.2, 0.2}, 0));
    assertTrue(sum.getMessage().contains("bag 4 of slide s3"), sum.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new BagPrediction(5, "s3", 0, new double[] {Double.NaN, 1}, 0));
    assertThrows(IllegalArgumentException.class, () -> new BagPrediction(6, "s3", 2, new double[] {0.5, 0.5}, 0));
    assertEquals(-Math.log(0.8), BagPrediction.crossEntropy(new double[] {0.2, 0.8}, 1), 1e-15);
    assertTrue(Double.isFinite(BagPrediction.crossEntropy(new double[] {1, 0}, 1)));
  }

  @Test
  void confusionMatrixValidatesAndCopies() {
    ConfusionMatrix m = ConfusionMatrix.of(new long[][] {{3, 1}, {0, 2}});
    assertEquals(6, m.total());
    assertEquals(5, m.correct());
    assertEquals(1, m.count(0, 1));
    m.rows()[0][0] = 99;
    assertEquals(3, m.count(0, 0));
    assertThrows(IllegalArgumentException.class, () -> ConfusionMatrix.of(new long[][] {{1, 2}, {3}}));
    assertThrows(IllegalArgumentException.class, () -> ConfusionMatrix.of(new long[][] {{-1}}));
    List<SlidePrediction> none = new ArrayList<>();
    assertThrows(IllegalArgumentException.class, () -> new ClassificationMetrics(2, 1, 1, ConfusionMatrix.tally(2, new int[0], new int[0]), 0.5, 0));
    assertEquals(0, ClassificationMetrics.of(2, none, Double.NaN).slides());
  }
}
