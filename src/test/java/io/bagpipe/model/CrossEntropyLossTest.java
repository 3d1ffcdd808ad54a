package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Cross-entropy against nn.CrossEntropyLoss's definition, computed by hand. */
class CrossEntropyLossTest {

  static double byHand(double[] logits, int label) {
    double max = Double.NEGATIVE_INFINITY;
    for (double l : logits) {
      max = Math.max(max, l);
    }
    double sum = 0;
    for (double l : logits) {
      sum += Math.exp(l - max);
    }
    return max + Math.log(sum) - logits[label];
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 1, 2})
  void oneRowMatchesLogSumExpMinusTheLabelsLogit(int label) {
    double[] logits = {1.0, 2.0, 3.0};
    try (NDManager manager = NDManager.newBaseManager()) {
      NDArray row = manager.create(new float[] {1, 2, 3}, new Shape(1, 3));
      assertEquals(byHand(logits, label), CrossEntropyLoss.of(row, label).getFloat(), 1e-6);
    }
  }

  @Test
  void knownValues() {
    try (NDManager manager = NDManager.newBaseManager()) {
      // ln(e + e^2 + e^3) - 3, as torch.nn.CrossEntropyLoss gives for [[1,2,3]], [2]
      assertEquals(0.40760596, CrossEntropyLoss.of(manager.create(new float[] {1, 2, 3}, new Shape(1, 3)), 2)
          .getFloat(), 1e-6);
      assertEquals(Math.log(2), CrossEntropyLoss.of(manager.zeros(new Shape(1, 2)), 1).getFloat(), 1e-6);
      // stable for large logits
      assertEquals(1000f, CrossEntropyLoss.of(manager.create(new float[] {1000, 0}, new Shape(1, 2)), 1)
          .getFloat(), 1e-3);
    }
  }

  @Test
  void batchIsTheMeanOverRowsAndTakesModelOutputs() {
    try (NDManager manager = NDManager.newBaseManager()) {
      NDArray logits = manager.create(new float[] {1, 2, 3, 0.5f, -1, 2}, new Shape(2, 3));
      NDArray labels = manager.create(new int[] {2, 0});
      double expected = (byHand(new double[] {1, 2, 3}, 2) + byHand(new double[] {0.5, -1, 2}, 0)) / 2;
      NDArray weights = manager.ones(new Shape(7));
      assertEquals(expected, new CrossEntropyLoss().evaluate(new NDList(labels), new NDList(logits, weights))
          .getFloat(), 1e-6);
    }
  }

  @Test
  void rejectsLabelsOutsideTheClasses() {
    try (NDManager manager = NDManager.newBaseManager()) {
      assertThrows(IllegalArgumentException.class, () -> CrossEntropyLoss.of(manager.zeros(new Shape(1, 2)), 2));
      assertThrows(IllegalArgumentException.class, () -> CrossEntropyLoss.of(manager.zeros(new Shape(1, 2)), -1));
    }
  }
}
