package io.bagpipe.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Step-time percentiles are within one bucket (about 19 %) of the exact ones, at any count. */
class StepTimeHistogramTest {

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 10, 1000, 200_000})
  void percentilesAreWithinABucketOfTheExactOnes(int n) {
    Random r = new Random(n);
    long[] nanos = new long[n];
    StepTimeHistogram h = new StepTimeHistogram();
    for (int i = 0; i < n; i++) {
      nanos[i] = (long) (5e6 + r.nextGaussian() * 1e6 + (i % 50 == 0 ? 40e6 : 0)); // 5 ms, a slow step now and then
      nanos[i] = Math.max(1000, nanos[i]);
      h.add(nanos[i]);
    }
    Arrays.sort(nanos);
    assertEquals(n, h.count());
    for (double q : new double[] {0.5, 0.95, 1.0}) {
      double exact = nanos[(int) Math.max(0, Math.ceil(q * n) - 1)] / 1e6;
      double got = h.quantileMillis(q);
      assertTrue(got >= exact && got <= exact * 1.2 + 1e-3, "q " + q + ": " + got + " ms vs exact " + exact);
    }
  }

  @ParameterizedTest
  @ValueSource(longs = {0, 1, 999, 86_400_000_000_000L})
  void extremesStayInRange(long nanos) {
    StepTimeHistogram h = new StepTimeHistogram();
    h.add(nanos);
    assertTrue(h.quantileMillis(0.5) > 0);
    assertTrue(Double.isNaN(new StepTimeHistogram().quantileMillis(0.5)));
  }
}
