package io.bagpipe.coordinator;

/**
 * Mean time per training step spent in each stage, in milliseconds, averaged over
 * the workers' steps of an epoch. NaN where a stage was not measured.
 *
 * @param decodeWaitMs waiting for the loaders' decoded bags
 * @param uploadMs copying patches to the device
 * @param forwardMs forward pass
 * @param backwardMs backward pass
 * @param allReduceMs gradient all-reduce
 * @param optimizerMs optimizer update
 */
public record StageTimes(double decodeWaitMs, double uploadMs, double forwardMs, double backwardMs, double allReduceMs,
    double optimizerMs) {

  public StageTimes {
    for (double t : new double[] {decodeWaitMs, uploadMs, forwardMs, backwardMs, allReduceMs, optimizerMs}) {
      if (t < 0 || Double.isInfinite(t)) {
        throw new IllegalArgumentException("stage times must be finite and >= 0 (or NaN), got " + t);
      }
    }
  }

  /** No stage measured. */
  public static StageTimes unmeasured() {
    double n = Double.NaN;
    return new StageTimes(n, n, n, n, n, n);
  }
}
