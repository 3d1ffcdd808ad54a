package io.bagpipe.coordinator;

/**
 * One worker's step times over an epoch, counted in log-spaced buckets (each about
 * 19 % wider than the one before, from 1 µs to days): percentiles in fixed memory,
 * whatever the number of steps.
 */
final class StepTimeHistogram {

  private static final int PER_OCTAVE = 4;
  private static final int BUCKETS = 40 * PER_OCTAVE;

  private final long[] counts = new long[BUCKETS];
  private long total;

  void add(long nanos) {
    double micros = Math.max(1, nanos / 1e3);
    int bucket = (int) Math.min(BUCKETS - 1, Math.floor(Math.log(micros) / Math.log(2) * PER_OCTAVE));
    counts[bucket]++;
    total++;
  }

  long count() {
    return total;
  }

  /** The {@code q}-quantile (0..1) in milliseconds: the upper edge of its bucket; NaN when empty. */
  double quantileMillis(double q) {
    if (total == 0) {
      return Double.NaN;
    }
    long rank = (long) Math.ceil(q * total);
    long seen = 0;
    for (int i = 0; i < BUCKETS; i++) {
      seen += counts[i];
      if (seen >= Math.max(1, rank)) {
        return Math.pow(2, (i + 1) / (double) PER_OCTAVE) / 1e3;
      }
    }
    return Math.pow(2, BUCKETS / (double) PER_OCTAVE) / 1e3;
  }
}
