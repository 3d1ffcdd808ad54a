package io.bagpipe.coordinator;

/**
 * Decides what a failure means for the run. A bag that cannot be decoded (corrupt
 * slide, missing file, patch outside the image) is skipped and reported: one bad
 * slide must not end a week-long run. A worker that stops on one node ends the run
 * here (its replica and its share of the step are gone); the newest checkpoint
 * stays intact for a resume.
 */
public final class FailurePolicy {

  private FailurePolicy() {}

  public static FailureDecision bagFailed(int epoch, long bagKey, String slideId, String reason) {
    return new FailureDecision.Skip(
        (epoch < 0 ? "validation" : "epoch " + epoch) + ": skipped bag " + bagKey + " of slide '" + slideId + "': " + reason);
  }

  public static FailureDecision workerStopped(int rank, int world) {
    return new FailureDecision.Abort(
        "worker " + rank + " of " + world + " stopped unexpectedly; the run ends here and can resume from its newest"
            + " checkpoint (run the same command again with bagpipe.train.resume = true)");
  }
}
