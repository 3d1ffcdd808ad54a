package io.bagpipe.model;

import java.util.Arrays;

/** Orders a bag's patches by a per-patch score, for the instance-level losses. */
final class InstanceRanking {

  private InstanceRanking() {}

  /**
   * Patch indices by descending score of column {@code column} of the row-major (n, columns)
   * {@code scores}; equal scores keep the lower index first.
   */
  static int[] descending(float[] scores, int n, int columns, int column) {
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (x, y) -> Float.compare(scores[y * columns + column], scores[x * columns + column]));
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = order[i];
    }
    return out;
  }
}
