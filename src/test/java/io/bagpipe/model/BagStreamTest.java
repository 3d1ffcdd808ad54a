package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** A bag fed to {@link BagStream} in chunks gives what {@link MilModel#forward} gives on the whole bag. */
class BagStreamTest {

  static final int N = 23;
  static final int P = 32;

  @ParameterizedTest
  @EnumSource(value = PoolingKind.class, names = {"ATTENTION", "GATED_ATTENTION", "MEAN", "MAX"})
  void chunkedBagEqualsTheFullBagForward(PoolingKind pooling) {
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(new ModelSettings(new EncoderSpec.MilCnnS(), pooling, 16, 3, 7), manager, P);
      NDArray bag = ModelFixtures.uniform(manager, 11, -2f, 2f, N, 3, P, P);
      float[] logits;
      float[] weights;
      boolean gradMode = JniUtils.isGradMode();
      JniUtils.setGradMode(false);
      try {
        NDList full = model.forward(new ParameterStore(manager, false), new NDList(bag), false);
        logits = MilModel.logits(full).toFloatArray();
        weights = MilModel.weights(full).toFloatArray();
      } finally {
        JniUtils.setGradMode(gradMode);
      }
      for (int chunk : new int[] {1, 5, 8, N}) {
        BagStream stream = new BagStream(model, manager);
        for (int from = 0; from < N; from += chunk) {
          try (NDManager scope = manager.newSubManager()) {
            NDArray part = bag.get(from + ":" + Math.min(N, from + chunk));
            part.attach(scope);
            stream.add(part);
          }
        }
        BagOutput out = stream.finish();
        assertEquals(N, stream.patches());
        assertArrayEquals(logits, out.logits(), 1e-5f, pooling + " logits, chunks of " + chunk);
        assertArrayEquals(weights, out.weights(), 1e-5f, pooling + " weights, chunks of " + chunk);
        double total = 0;
        for (float w : out.weights()) {
          total += w;
        }
        assertEquals(1.0, total, 1e-5);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(value = PoolingKind.class, names = {"ATTENTION", "MAX"})
  void anEmptyBagHasNoResult(PoolingKind pooling) {
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(new ModelSettings(new EncoderSpec.MilCnnS(), pooling, 16, 2, 7), manager, P);
      assertThrows(IllegalStateException.class, () -> new BagStream(model, manager).finish());
    }
  }

  /** Small zoo hyper-parameters, so the test runs in a second. */
  static ZooSettings smallZoo() {
    return new ZooSettings(new ZooSettings.Clam(12, 3, 0.7, false), 0.5,
        new ZooSettings.TransMil(16, 4, 8, 6, 33), 8);
  }

  @ParameterizedTest
  @EnumSource(value = PoolingKind.class, names = {"CLAM_SB", "CLAM_MB", "MAX_INSTANCE", "TRANSMIL", "DSMIL"})
  void theZooChunkedEqualsItsEvalForward(PoolingKind pooling) {
    try (NDManager manager = NDManager.newBaseManager()) {
      int classes = 3;
      MilModel model = MilModel.build(
          new ModelSettings(new EncoderSpec.MilCnnS(), pooling, 16, classes, 7, smallZoo(), false), manager, P);
      NDArray bag = ModelFixtures.uniform(manager, 13, -2f, 2f, N, 3, P, P);
      float[] logits;
      float[] weights;
      boolean gradMode = JniUtils.isGradMode();
      JniUtils.setGradMode(false);
      try {
        ParameterStore ps = new ParameterStore(manager, false);
        NDList full = model.forward(ps, new NDList(bag), false);
        logits = MilModel.logits(full).toFloatArray();
        weights = MilModel.weights(full).toFloatArray();
        if (pooling == PoolingKind.DSMIL) {
          // DSMIL predicts with the mean of the bag's and the max instance's probabilities
          NDArray h = model.encoder().forward(ps, new NDList(bag), false).singletonOrThrow();
          float[] maxInstance = model.pooling().forward(ps, new NDList(h), true).get(2).max(new int[] {0}).toFloatArray();
          double[] pb = softmax(logits);
          double[] pi = softmax(maxInstance);
          for (int c = 0; c < classes; c++) {
            logits[c] = (float) Math.log(0.5 * pb[c] + 0.5 * pi[c]);
          }
        }
      } finally {
        JniUtils.setGradMode(gradMode);
      }
      for (int chunk : new int[] {1, 5, N}) {
        BagStream stream = new BagStream(model, manager);
        for (int from = 0; from < N; from += chunk) {
          try (NDManager scope = manager.newSubManager()) {
            NDArray part = bag.get(from + ":" + Math.min(N, from + chunk));
            part.attach(scope);
            stream.add(part);
          }
        }
        BagOutput out = stream.finish();
        assertArrayEquals(logits, out.logits(), 2e-5f, pooling + " logits, chunks of " + chunk);
        assertArrayEquals(weights, out.weights(), 1e-5f, pooling + " weights, chunks of " + chunk);
        double total = 0;
        for (float w : out.weights()) {
          total += w;
        }
        assertEquals(1.0, total, 1e-5);
      }
    }
  }

  private static double[] softmax(float[] x) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : x) {
      max = Math.max(max, v);
    }
    double[] p = new double[x.length];
    double total = 0;
    for (int i = 0; i < x.length; i++) {
      p[i] = Math.exp(x[i] - max);
      total += p[i];
    }
    for (int i = 0; i < x.length; i++) {
      p[i] /= total;
    }
    return p;
  }
}
