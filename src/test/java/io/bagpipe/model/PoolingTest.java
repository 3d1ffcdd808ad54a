package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import org.junit.jupiter.api.Test;

/** Each MIL pooling against the same computation done by hand in double precision. */
class PoolingTest {

  static final int N = 5;
  static final int D = 3;
  static final int L = 4;

  static final float[][] H = {
      {0.5f, -1.0f, 2.0f},
      {1.5f, 0.25f, -0.5f},
      {-0.75f, 3.0f, 0.0f},
      {0.1f, 0.2f, 0.3f},
      {2.5f, -2.0f, 1.0f}};

  static NDArray features(NDManager manager) {
    float[] flat = new float[N * D];
    for (int i = 0; i < N; i++) {
      System.arraycopy(H[i], 0, flat, i * D, D);
    }
    return manager.create(flat, new Shape(N, D));
  }

  static NDList pool(MilPooling pooling, NDManager manager) {
    pooling.initialize(manager, DataType.FLOAT32, new Shape(N, D));
    SeededInit.apply(pooling, 3);
    return pooling.forward(new ParameterStore(manager, false), new NDList(features(manager)), false);
  }

  static float[] param(MilPooling pooling, String name) {
    // DJL prefixes child block names with their position: "01V_weight"
    for (var p : pooling.getParameters()) {
      if (p.getKey().replaceFirst("^\\d+", "").equals(name)) {
        return p.getValue().getArray().toFloatArray();
      }
    }
    throw new AssertionError("no parameter " + name + " in " + pooling.getParameters().keys());
  }

  /** y = W x + b for W (rows x cols) row-major. */
  static double[] affine(float[] w, float[] b, double[] x, int rows) {
    double[] y = new double[rows];
    for (int r = 0; r < rows; r++) {
      y[r] = b[r];
      for (int c = 0; c < x.length; c++) {
        y[r] += w[r * x.length + c] * x[c];
      }
    }
    return y;
  }

  static double[] row(int i) {
    double[] x = new double[D];
    for (int c = 0; c < D; c++) {
      x[c] = H[i][c];
    }
    return x;
  }

  static void assertWeightedSum(double[] scores, NDList out) {
    double max = Double.NEGATIVE_INFINITY;
    for (double s : scores) {
      max = Math.max(max, s);
    }
    double sum = 0;
    double[] a = new double[N];
    for (int i = 0; i < N; i++) {
      a[i] = Math.exp(scores[i] - max);
      sum += a[i];
    }
    float[] expectedA = new float[N];
    float[] expectedZ = new float[D];
    for (int i = 0; i < N; i++) {
      a[i] /= sum;
      expectedA[i] = (float) a[i];
      for (int c = 0; c < D; c++) {
        expectedZ[c] += (float) (a[i] * H[i][c]);
      }
    }
    float[] weights = MilPooling.weights(out).toFloatArray();
    assertArrayEquals(expectedA, weights, 1e-6f, "attention weights");
    assertEquals(1.0, MilPooling.weights(out).sum().getFloat(), 1e-6);
    assertEquals(new Shape(1, D), MilPooling.embedding(out).getShape());
    assertArrayEquals(expectedZ, MilPooling.embedding(out).toFloatArray(), 1e-5f, "sum_i a_i h_i");
  }

  @Test
  void attentionIsSoftmaxOfWTanhVh() {
    try (NDManager manager = NDManager.newBaseManager()) {
      AttentionPooling pooling = new AttentionPooling(L);
      NDList out = pool(pooling, manager);
      double[] scores = new double[N];
      for (int i = 0; i < N; i++) {
        double[] t = affine(param(pooling, "V_weight"), param(pooling, "V_bias"), row(i), L);
        for (int k = 0; k < L; k++) {
          t[k] = Math.tanh(t[k]);
        }
        scores[i] = affine(param(pooling, "w_weight"), param(pooling, "w_bias"), t, 1)[0];
      }
      assertWeightedSum(scores, out);
    }
  }

  @Test
  void gatedAttentionIsSoftmaxOfWTanhVhTimesSigmoidUh() {
    try (NDManager manager = NDManager.newBaseManager()) {
      GatedAttentionPooling pooling = new GatedAttentionPooling(L);
      NDList out = pool(pooling, manager);
      double[] scores = new double[N];
      for (int i = 0; i < N; i++) {
        double[] t = affine(param(pooling, "V_weight"), param(pooling, "V_bias"), row(i), L);
        double[] u = affine(param(pooling, "U_weight"), param(pooling, "U_bias"), row(i), L);
        for (int k = 0; k < L; k++) {
          t[k] = Math.tanh(t[k]) / (1 + Math.exp(-u[k]));
        }
        scores[i] = affine(param(pooling, "w_weight"), param(pooling, "w_bias"), t, 1)[0];
      }
      assertWeightedSum(scores, out);
    }
  }

  @Test
  void meanAveragesPatchesWithEqualWeights() {
    try (NDManager manager = NDManager.newBaseManager()) {
      NDList out = pool(new MeanPooling(), manager);
      float[] z = new float[D];
      for (float[] h : H) {
        for (int c = 0; c < D; c++) {
          z[c] += h[c] / N;
        }
      }
      assertArrayEquals(z, MilPooling.embedding(out).toFloatArray(), 1e-6f);
      assertArrayEquals(new float[] {0.2f, 0.2f, 0.2f, 0.2f, 0.2f}, MilPooling.weights(out).toFloatArray(), 1e-7f);
    }
  }

  @Test
  void maxTakesFeatureMaximaAndCreditsTheWinningPatches() {
    try (NDManager manager = NDManager.newBaseManager()) {
      NDList out = pool(new MaxPooling(), manager);
      assertArrayEquals(new float[] {2.5f, 3.0f, 2.0f}, MilPooling.embedding(out).toFloatArray());
      // feature 0 won by patch 4, feature 1 by patch 2, feature 2 by patch 0
      assertArrayEquals(new float[] {1f / 3, 0, 1f / 3, 0, 1f / 3}, MilPooling.weights(out).toFloatArray(), 1e-7f);
    }
  }

  @Test
  void rejectsAnythingButPatchFeatures() {
    try (NDManager manager = NDManager.newBaseManager()) {
      MeanPooling pooling = new MeanPooling();
      pooling.initialize(manager, DataType.FLOAT32, new Shape(N, D));
      assertThrows(IllegalArgumentException.class, () -> pooling.forward(
          new ParameterStore(manager, false), new NDList(manager.zeros(new Shape(1, N, D))), false));
    }
  }
}
