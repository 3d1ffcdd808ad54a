package io.bagpipe.model;

/**
 * Clipping of a flat gradient by its global L2 norm, as {@code torch.nn.utils.clip_grad_norm_}
 * does over all parameters: when the norm exceeds {@code maxNorm}, every value is scaled by
 * {@code maxNorm / (norm + 1e-6)}. Applied to the all-reduced average, which is bit-identical on
 * every replica, and summed in double in a fixed order, it scales every replica alike.
 */
public final class GradientClipping {

  private GradientClipping() {}

  /** The L2 norm of {@code g}, summed in double in index order. */
  public static double norm(float[] g) {
    return norm(g, g.length);
  }

  /** The L2 norm of the first {@code length} values of {@code g}. */
  static double norm(float[] g, int length) {
    double sum = 0;
    for (int i = 0; i < length; i++) {
      sum += (double) g[i] * g[i];
    }
    return Math.sqrt(sum);
  }

  /**
   * Scales {@code g} in place so its norm is at most about {@code maxNorm}; {@code maxNorm} 0
   * leaves it alone.
   *
   * @return the norm before clipping (NaN when not computed: {@code maxNorm} 0)
   */
  public static double clip(float[] g, double maxNorm) {
    return clip(g, g.length, maxNorm);
  }

  /**
   * As {@link #clip(float[], double)} over the first {@code length} values of {@code g} only
   * (a flat vector whose tail is not gradient, such as BatchNorm statistics' changes).
   */
  public static double clip(float[] g, int length, double maxNorm) {
    if (maxNorm < 0 || !Double.isFinite(maxNorm)) {
      throw new IllegalArgumentException("clip norm must be >= 0, got " + maxNorm);
    }
    if (maxNorm == 0) {
      return Double.NaN;
    }
    double norm = norm(g, length);
    double coefficient = maxNorm / (norm + 1e-6);
    if (coefficient < 1) {
      float c = (float) coefficient;
      for (int i = 0; i < length; i++) {
        g[i] *= c;
      }
    }
    return norm;
  }
}
