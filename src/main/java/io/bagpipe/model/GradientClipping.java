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
    double sum = 0;
    for (float v : g) {
      sum += (double) v * v;
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
    if (maxNorm < 0 || !Double.isFinite(maxNorm)) {
      throw new IllegalArgumentException("clip norm must be >= 0, got " + maxNorm);
    }
    if (maxNorm == 0) {
      return Double.NaN;
    }
    double norm = norm(g);
    double coefficient = maxNorm / (norm + 1e-6);
    if (coefficient < 1) {
      float c = (float) coefficient;
      for (int i = 0; i < g.length; i++) {
        g[i] *= c;
      }
    }
    return norm;
  }
}
