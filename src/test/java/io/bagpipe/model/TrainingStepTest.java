package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The training step: it learns, its flat gradient is the real one, and it frees what it makes. */
class TrainingStepTest {

  static final int PATCHES = 8;
  static final int SIDE = 32;

  /** A bag of dim noise patches (normalised: around 0); a positive bag has one bright patch among them. */
  static NDArray toyBag(NDManager manager, long seed, boolean positive) {
    Random r = new Random(seed);
    int per = 3 * SIDE * SIDE;
    float[] v = new float[PATCHES * per];
    for (int i = 0; i < v.length; i++) {
      v[i] = 0.2f * r.nextFloat() - 0.1f;
    }
    if (positive) {
      int patch = r.nextInt(PATCHES);
      for (int i = 0; i < per; i++) {
        v[patch * per + i] += 1f;
      }
    }
    return manager.create(v, new Shape(PATCHES, 3, SIDE, SIDE));
  }

  static MilModel model(NDManager manager) {
    return MilModel.build(ModelFixtures.settings(new EncoderSpec.MilCnnS(), PoolingKind.ATTENTION, 11), manager, SIDE);
  }

  static double meanLoss(TrainingStep step, NDManager manager) {
    double sum = 0;
    for (int b = 0; b < 8; b++) {
      try (NDArray bag = toyBag(manager, 1000 + b, b % 2 == 1)) {
        sum += step.evaluate(bag, b % 2).loss();
      }
    }
    return sum / 8;
  }

  @Test
  void milCnnSLearnsToFindTheBrightPatch() {
    OptimizerSettings adam = new OptimizerSettings(OptimizerKind.ADAM, 3e-3, 0, 1e-4, 0.9, 0.999, 1e-8);
    try (NDManager manager = NDManager.newBaseManager();
        TrainingStep step = new TrainingStep(model(manager), adam)) {
      double before = meanLoss(step, manager);
      float firstLosses = 0;
      float lastLosses = 0;
      for (int s = 0; s < 30; s++) {
        try (NDArray bag = toyBag(manager, s, s % 2 == 1)) {
          float loss = step.forwardBackward(bag, s % 2).loss();
          step.applyOptimizer();
          if (s < 6) {
            firstLosses += loss;
          } else if (s >= 24) {
            lastLosses += loss;
          }
        }
      }
      double after = meanLoss(step, manager);
      assertEquals(30, step.optimizer().steps());
      assertTrue(after < 0.5 * before, "held-out loss " + before + " -> " + after);
      assertTrue(lastLosses < firstLosses, "training loss " + firstLosses / 6 + " -> " + lastLosses / 6);
    }
  }

  @Test
  void flatGradientIsWhatTheOptimizerUses() {
    OptimizerSettings plain = new OptimizerSettings(OptimizerKind.SGD, 0.1, 0, 0, 0.9, 0.999, 1e-8);
    try (NDManager manager = NDManager.newBaseManager();
        TrainingStep step = new TrainingStep(model(manager), plain);
        NDArray bag = toyBag(manager, 1, true)) {
      int n = step.gradientSize();
      assertEquals(26_595 - 130 + 2 * 65, n); // the peer's model (classes = 2)
      float[] w0 = new float[n];
      step.parameters().readValues(w0);

      step.forwardBackward(bag, 1);
      float[] g = new float[n];
      step.readGradient(g);
      assertTrue(norm(g) > 0, "no gradient");

      // a second bag accumulates: the same bag again doubles the gradient
      step.forwardBackward(bag, 1);
      float[] g2 = new float[n];
      step.readGradient(g2);
      for (int i = 0; i < n; i++) {
        assertEquals(2 * g[i], g2[i], 1e-6f + 1e-4f * Math.abs(g[i]));
      }

      // replace it with half the single-bag gradient: the update must follow the replacement
      float[] half = new float[n];
      for (int i = 0; i < n; i++) {
        half[i] = g[i] / 2;
      }
      step.writeGradient(half);
      float[] readBack = new float[n];
      step.readGradient(readBack);
      assertArrayEquals(half, readBack);
      step.applyOptimizer();
      float[] w1 = new float[n];
      step.parameters().readValues(w1);
      for (int i = 0; i < n; i++) {
        assertEquals(w0[i] - 0.1f * half[i], w1[i], 1e-7f, "parameter " + i);
      }

      // applyOptimizer zeroed the gradient
      step.readGradient(readBack);
      assertArrayEquals(new float[n], readBack);
    }
  }

  /**
   * A replica that never trained a bag (a worker that joined a running run and got no
   * bag in its first step) still applies the average, exactly as one that did, and
   * leaves no arrays behind.
   */
  @Test
  void aReplicaWithNoBackwardPassYetAppliesTheAverage() {
    OptimizerSettings plain = new OptimizerSettings(OptimizerKind.SGD, 0.1, 0, 0, 0.9, 0.999, 1e-8);
    try (NDManager manager = NDManager.newBaseManager();
        TrainingStep step = new TrainingStep(model(manager), plain)) {
      int n = step.gradientSize();
      float[] w0 = new float[n];
      step.parameters().readValues(w0);
      int arrays = manager.getManagedArrays().size();
      float[] average = new float[n];
      for (int i = 0; i < n; i++) {
        average[i] = (i % 7 - 3) * 0.01f;
      }
      step.writeGradient(average);
      step.applyOptimizer();
      float[] w1 = new float[n];
      step.parameters().readValues(w1);
      for (int i = 0; i < n; i++) {
        assertEquals(w0[i] - 0.1f * average[i], w1[i], 1e-7f, "parameter " + i);
      }
      assertEquals(arrays, manager.getManagedArrays().size(), "arrays leaked into the model's manager");
    }
  }

  @Test
  void stepsLeaveNoArraysBehind() {
    try (NDManager modelManager = NDManager.newBaseManager();
        NDManager bagManager = NDManager.newBaseManager();
        TrainingStep step = new TrainingStep(model(modelManager), OptimizerTest.SGD)) {
      NDArray bag = toyBag(bagManager, 3, true);
      step.forwardBackward(bag, 1);
      step.applyOptimizer();
      int modelArrays = modelManager.getManagedArrays().size();
      int bagArrays = bagManager.getManagedArrays().size();
      for (int s = 0; s < 3; s++) {
        step.forwardBackward(bag, 1);
        step.readGradient(new float[step.gradientSize()]);
        step.applyOptimizer();
        step.evaluate(bag, 0);
      }
      assertEquals(modelArrays, modelManager.getManagedArrays().size(), "arrays leaked into the model's manager");
      assertEquals(bagArrays, bagManager.getManagedArrays().size(), "arrays leaked into the bag's manager");
      assertEquals(1, bagArrays);
    }
  }

  @Test
  void rejectsBadLabelsAndWrongGradientLengths() {
    try (NDManager manager = NDManager.newBaseManager();
        TrainingStep step = new TrainingStep(model(manager), OptimizerTest.SGD);
        NDArray bag = toyBag(manager, 1, false)) {
      assertThrows(IllegalArgumentException.class, () -> step.forwardBackward(bag, 2));
      assertThrows(IllegalArgumentException.class, () -> step.readGradient(new float[3]));
    }
  }

  static double norm(float[] v) {
    double s = 0;
    for (float x : v) {
      s += x * x;
    }
    return Math.sqrt(s);
  }
}
