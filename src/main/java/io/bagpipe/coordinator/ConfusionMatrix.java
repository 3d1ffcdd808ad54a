package io.bagpipe.coordinator;

import java.util.Arrays;

/**
 * Counts of slides by true class (row) and predicted class (column). Immutable.
 */
public final class ConfusionMatrix {

  private final int classes;
  private final long[] counts;

  private ConfusionMatrix(int classes, long[] counts) {
    this.classes = classes;
    this.counts = counts;
  }

  /** A matrix from its rows: {@code rows[actual][predicted]}; square, counts non-negative. */
  public static ConfusionMatrix of(long[][] rows) {
    int n = rows.length;
    long[] counts = new long[n * n];
    for (int a = 0; a < n; a++) {
      if (rows[a].length != n) {
        throw new IllegalArgumentException("confusion matrix must be square, row " + a + " has " + rows[a].length
            + " entries for " + n + " classes");
      }
      for (int p = 0; p < n; p++) {
        if (rows[a][p] < 0) {
          throw new IllegalArgumentException("negative count " + rows[a][p] + " at [" + a + "][" + p + "]");
        }
        counts[a * n + p] = rows[a][p];
      }
    }
    return new ConfusionMatrix(n, counts);
  }

  /** Tallies {@code actual[i]} against {@code predicted[i]} over {@code classes} classes. */
  static ConfusionMatrix tally(int classes, int[] actual, int[] predicted) {
    long[] counts = new long[classes * classes];
    for (int i = 0; i < actual.length; i++) {
      counts[actual[i] * classes + predicted[i]]++;
    }
    return new ConfusionMatrix(classes, counts);
  }

  /** Number of classes. */
  public int classes() {
    return classes;
  }

  /** Slides of true class {@code actual} predicted as {@code predicted}. */
  public long count(int actual, int predicted) {
    return counts[actual * classes + predicted];
  }

  /** Total slides counted. */
  public long total() {
    return Arrays.stream(counts).sum();
  }

  /** Slides on the diagonal: predicted correctly. */
  public long correct() {
    long sum = 0;
    for (int c = 0; c < classes; c++) {
      sum += count(c, c);
    }
    return sum;
  }

  /** A copy of the rows, {@code [actual][predicted]}. */
  public long[][] rows() {
    long[][] rows = new long[classes][];
    for (int a = 0; a < classes; a++) {
      rows[a] = Arrays.copyOfRange(counts, a * classes, (a + 1) * classes);
    }
    return rows;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ConfusionMatrix m && classes == m.classes && Arrays.equals(counts, m.counts);
  }

  @Override
  public int hashCode() {
    return classes * 31 + Arrays.hashCode(counts);
  }

  @Override
  public String toString() {
    return Arrays.deepToString(rows());
  }
}
