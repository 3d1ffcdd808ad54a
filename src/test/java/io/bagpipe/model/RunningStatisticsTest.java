package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.training.ParameterStore;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Averaging BatchNorm running statistics over replicas: each replica's change, weighted by its
 * bags, averaged and applied, leaves every replica with the weighted average of their updated
 * statistics, as PyTorch's update rule computes them.
 */
class RunningStatisticsTest {

  static final int C = 3;
  static final Shape INPUT = new Shape(4, C, 5, 5);

  /** Two BatchNorm layers (PyTorch's momentum 0.1, as the encoders use), initialised alike. */
  static Block block(NDManager manager) {
    Block b = new SequentialBlock()
        .add(BatchNorm.builder().optEpsilon(1e-5f).optMomentum(0.9f).build())
        .add(BatchNorm.builder().optEpsilon(1e-5f).optMomentum(0.9f).build());
    b.initialize(manager, DataType.FLOAT32, INPUT);
    return b;
  }

  static float[] input(long seed, float shift) {
    Random r = new Random(seed);
    float[] v = new float[(int) INPUT.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) r.nextGaussian() * (1 + seed) + shift;
    }
    return v;
  }

  static void train(NDManager manager, Block b, float[] x) {
    try (NDManager scope = manager.newSubManager()) {
      b.forward(new ParameterStore(scope, false), new NDList(scope.create(x, INPUT)), true);
    }
  }

  static float[] values(RunningStatistics s) {
    float[] v = new float[s.size()];
    s.read(v, 0);
    return v;
  }

  /** The first layer's running mean and variance after one training pass from (0, 1): PyTorch's rule. */
  static double[] firstLayerAfter(float[] x) {
    double[] out = new double[2 * C];
    int hw = 25;
    for (int c = 0; c < C; c++) {
      double sum = 0;
      int n = 0;
      for (int i = 0; i < 4; i++) {
        for (int k = 0; k < hw; k++) {
          sum += x[(i * C + c) * hw + k];
          n++;
        }
      }
      double mean = sum / n;
      double sq = 0;
      for (int i = 0; i < 4; i++) {
        for (int k = 0; k < hw; k++) {
          double d = x[(i * C + c) * hw + k] - mean;
          sq += d * d;
        }
      }
      out[c] = 0.1 * mean;
      out[C + c] = 0.9 + 0.1 * sq / (n - 1); // unbiased variance, as PyTorch keeps
    }
    return out;
  }

  @Test
  void replicasEndWithTheWeightedAverageOfTheirUpdatedStatisticsAndARankWithNoBagDoesNotPull() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Block a = block(manager);
      Block b = block(manager);
      Block idle = block(manager);
      RunningStatistics sa = new RunningStatistics(a);
      RunningStatistics sb = new RunningStatistics(b);
      RunningStatistics si = new RunningStatistics(idle);
      assertEquals(4 * C, sa.size());
      assertEquals(List.of("01BatchNorm_runningMean", "01BatchNorm_runningVar", "02BatchNorm_runningMean",
          "02BatchNorm_runningVar"), sa.names());
      float[] start = values(sa);

      // Rank a trains two bags, rank b one, the idle rank none (weight 0).
      float[] xa1 = input(1, 0.5f);
      float[] xa2 = input(2, -1f);
      float[] xb = input(3, 2f);
      train(manager, a, xa1);
      train(manager, a, xa2);
      train(manager, b, xb);
      float[] ra = values(sa);
      float[] rb = values(sb);
      // The first layer moved as PyTorch moves it (one pass on b from the start values).
      double[] want = firstLayerAfter(xb);
      for (int c = 0; c < C; c++) {
        assertEquals(want[c], rb[c], 1e-5, "running mean, channel " + c);
        assertEquals(want[C + c], rb[C + c], 1e-4, "running variance, channel " + c);
      }
      assertNotEquals(ra[0], rb[0]);

      // What the all-reduce does: sum the contributions in rank order, divide by the bags once.
      int n = sa.size();
      float[][] contributions = {new float[n], new float[n], new float[n]};
      sa.readChange(contributions[0], 0, 2);
      sb.readChange(contributions[1], 0, 1);
      si.readChange(contributions[2], 0, 0);
      float[] average = new float[n];
      for (float[] c : contributions) {
        for (int k = 0; k < n; k++) {
          average[k] += c[k];
        }
      }
      for (int k = 0; k < n; k++) {
        average[k] /= 3;
      }
      sa.applyChange(average, 0);
      sb.applyChange(average, 0);
      si.applyChange(average, 0);

      float[] fa = values(sa);
      assertArrayEquals(fa, values(sb), "replicas are bit-identical");
      assertArrayEquals(fa, values(si), "the idle replica took the average too");
      for (int k = 0; k < n; k++) {
        double expected = (2.0 * ra[k] + rb[k]) / 3; // the idle rank's unchanged start does not count
        assertEquals(expected, fa[k], 1e-6 * Math.max(1, Math.abs(expected)), "statistic " + k);
        assertNotEquals(start[k], fa[k], "statistic " + k + " moved");
      }
    }
  }

  @Test
  void unchangedStatisticsStayBitForBitAndRestorePutsBackTheMarkedValues() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Block a = block(manager);
      RunningStatistics s = new RunningStatistics(a);
      train(manager, a, input(4, 0.3f));
      s.mark();
      float[] marked = values(s);
      // No pass in training mode: contributions are exact zeros, applying their average changes nothing.
      float[] flat = new float[s.size() + 2];
      s.readChange(flat, 2, 5);
      assertArrayEquals(new float[s.size() + 2], flat);
      s.applyChange(flat, 2);
      assertArrayEquals(marked, values(s));
      // A pass whose step is dropped (ring broken) is undone.
      train(manager, a, input(5, 1f));
      assertNotEquals(marked[0], values(s)[0]);
      s.restore();
      assertArrayEquals(marked, values(s));
    }
  }

  @Test
  void aBlockWithoutBatchNormHasNoStatisticsAndRangesAreChecked() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Block b = Encoders.milCnnS();
      b.initialize(manager, DataType.FLOAT32, new Shape(1, 3, 32, 32));
      assertEquals(0, new RunningStatistics(b).size());
      RunningStatistics s = new RunningStatistics(block(manager));
      assertThrows(IllegalArgumentException.class, () -> s.read(new float[s.size() - 1], 0));
      assertThrows(IllegalArgumentException.class, () -> s.readChange(new float[s.size()], 1, 1));
      assertThrows(IllegalArgumentException.class, () -> s.readChange(new float[s.size()], 0, -1));
    }
  }
}
