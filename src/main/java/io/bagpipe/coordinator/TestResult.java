package io.bagpipe.coordinator;

import io.bagpipe.serialization.Json;
import java.util.List;

/**
 * The scores of the test split, taken once when the last epoch is done, with the
 * parameters the run ended with: slide-level accuracy, ROC AUC and confusion matrix
 * over the test slides, and the mean bag loss.
 *
 * @param epochs epochs the model had trained when it was scored
 * @param slides test slides scored
 * @param bags test bags scored
 * @param confusion rows by true class; null when nothing could be scored
 * @param leftOut test slides left out because their reads failed (quarantined)
 * @param skippedBags test bags that could not be decoded
 */
public record TestResult(int epochs, int slides, int bags, double loss, double accuracy, double auc,
    ConfusionMatrix confusion, List<String> leftOut, long skippedBags) {

  public TestResult {
    leftOut = List.copyOf(leftOut);
  }

  /** One JSON object (no line break); NaN as {@code null}. */
  public String toJson() {
    StringBuilder b = new StringBuilder(256).append("{\"split\":\"test\",\"epochs\":").append(epochs);
    b.append(",\"slides\":").append(slides).append(",\"bags\":").append(bags);
    EpochRecord.number(b.append(",\"loss\":"), loss);
    EpochRecord.number(b.append(",\"accuracy\":"), accuracy);
    EpochRecord.number(b.append(",\"auc\":"), auc);
    EpochRecord.confusion(b.append(",\"confusion\":"), confusion);
    b.append(",\"left_out\":[");
    for (int i = 0; i < leftOut.size(); i++) {
      Json.string(b.append(i == 0 ? "" : ","), leftOut.get(i));
    }
    return b.append("],\"skipped_bags\":").append(skippedBags).append('}').toString();
  }
}
