package io.bagpipe.coordinator;

/**
 * Decides what a failure means for the run. A bag that cannot be decoded (corrupt
 * slide, missing file, patch outside the image) is skipped and reported: one bad
 * slide must not end a week-long run. A worker that stops, or a gradient ring that
 * breaks because a neighbour was lost, ends the run here (a replica and its share of
 * the step are gone); the newest checkpoint stays intact for a resume.
 */
public final class FailurePolicy {

  private FailurePolicy() {}

  public static FailureDecision bagFailed(int epoch, long bagKey, String slideId, String reason) {
    return new FailureDecision.Skip(
        (epoch < 0 ? "validation" : "epoch " + epoch) + ": skipped bag " + bagKey + " of slide '" + slideId + "': " + reason);
  }

  /**
   * A worker's all-reduce failed because the gradient ring broke (a neighbour's
   * process or node died, or its connection was cut): the step is lost on every rank,
   * so the run ends here, naming the lost neighbour, and can resume from its newest
   * checkpoint.
   */
  public static FailureDecision ringBroken(int rank, int epoch, int step, String reason) {
    return new FailureDecision.Abort("the gradient ring broke in step " + step + " of epoch " + epoch + ": " + reason
        + "; the run ends here and can resume from its newest checkpoint (run the same command again with"
        + " bagpipe.train.resume = true)");
  }

  public static FailureDecision workerStopped(int rank, int world) {
    return new FailureDecision.Abort(
        "worker " + rank + " of " + world + " stopped unexpectedly; the run ends here and can resume from its newest"
            + " checkpoint (run the same command again with bagpipe.train.resume = true)");
  }
}
