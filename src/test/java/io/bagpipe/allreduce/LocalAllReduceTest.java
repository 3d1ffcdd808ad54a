package io.bagpipe.allreduce;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LocalAllReduceTest {

  static float[] gradient(int rank, int n) {
    SplittableRandom r = new SplittableRandom(rank);
    float[] g = new float[n];
    for (int i = 0; i < n; i++) {
      g[i] = (float) r.nextGaussian();
    }
    return g;
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 5, 8})
  void everyRankGetsTheSameWeightedAverageWhateverTheArrivalOrder(int world) throws Exception {
    int n = 1001;
    float[] expected = null;
    for (int trial = 0; trial < 4; trial++) {
      LocalAllReduce ar = new LocalAllReduce(world);
      List<Integer> order = new ArrayList<>();
      for (int r = 0; r < world; r++) {
        order.add(r);
      }
      Collections.shuffle(order, new java.util.Random(trial));
      List<CompletableFuture<AllReduce.Reduced>> results = new ArrayList<>();
      for (int r : order) {
        results.add(ar.reduce(r, 7, gradient(r, n), r % 3, false).toCompletableFuture());
      }
      AllReduce.Reduced first = results.getFirst().get();
      for (CompletableFuture<AllReduce.Reduced> f : results) {
        assertSame(first, f.get(), "one result shared by every rank");
      }
      int weight = 0;
      for (int r = 0; r < world; r++) {
        weight += r % 3;
      }
      assertEquals(weight, first.weight());
      if (weight > 0) {
        double[] sum = new double[n];
        for (int r = 0; r < world; r++) {
          float[] g = gradient(r, n);
          for (int i = 0; i < n; i++) {
            sum[i] += g[i];
          }
        }
        for (int i = 0; i < n; i++) {
          assertEquals(sum[i] / weight, first.average()[i], 1e-5);
        }
      }
      if (expected == null) {
        expected = first.average();
      } else {
        assertArrayEquals(expected, first.average(), "bit-identical whatever the arrival order");
      }
    }
  }

  @Test
  void zeroWeightGivesZerosAndTheHaltBitIsAnOr() throws Exception {
    LocalAllReduce ar = new LocalAllReduce(3);
    ar.reduce(0, 1, new float[] {1, 2}, 0, false);
    ar.reduce(2, 1, new float[] {3, 4}, 0, true);
    AllReduce.Reduced r = ar.reduce(1, 1, new float[] {5, 6}, 0, false).toCompletableFuture().get();
    assertArrayEquals(new float[] {0, 0}, r.average());
    assertTrue(r.halt());
    AllReduce.Reduced next = CompletableFuture.allOf().thenCompose(v -> {
      ar.reduce(0, 2, new float[] {1, 1}, 1, false);
      ar.reduce(1, 2, new float[] {1, 1}, 1, false);
      return ar.reduce(2, 2, new float[] {1, 1}, 1, false);
    }).toCompletableFuture().get();
    assertFalse(next.halt());
  }

  @Test
  void refusesDoubleContributionsBadRanksAndMismatchedLengths() {
    LocalAllReduce ar = new LocalAllReduce(2);
    ar.reduce(0, 1, new float[3], 1, false);
    assertThrows(IllegalStateException.class, () -> ar.reduce(0, 1, new float[3], 1, false));
    assertThrows(IllegalArgumentException.class, () -> ar.reduce(1, 1, new float[4], 1, false));
    assertThrows(IllegalArgumentException.class, () -> ar.reduce(2, 1, new float[3], 1, false));
    assertThrows(IllegalArgumentException.class, () -> ar.reduce(1, 1, new float[3], -1, false));
  }
}
