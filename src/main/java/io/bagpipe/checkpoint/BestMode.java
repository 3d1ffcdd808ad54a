package io.bagpipe.checkpoint;

/** Whether a larger or a smaller value of the best metric is better ({@code bagpipe.checkpoint.best-mode}). */
public enum BestMode {
  /** Larger is better (AUC, accuracy). */
  MAX,
  /** Smaller is better (loss). */
  MIN;

  /**
   * Whether {@code candidate} beats {@code incumbent}. A NaN candidate never does; any
   * other candidate beats a NaN incumbent (no best yet). Ties do not.
   */
  public boolean better(double candidate, double incumbent) {
    if (Double.isNaN(candidate)) {
      return false;
    }
    if (Double.isNaN(incumbent)) {
      return true;
    }
    return this == MAX ? candidate > incumbent : candidate < incumbent;
  }
}
