package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.loss.Loss;

/**
 * PyTorch's {@code nn.CrossEntropyLoss} (mean reduction, no weights, no smoothing) on logits
 * (B,C) and integer labels (B): mean over rows of logsumexp(row) - row[label]. Unlike DJL's
 * {@code SoftmaxCrossEntropyLoss} it reads only the first array of the predictions, so it takes
 * a {@link MilModel} output (logits, patch weights) as it is.
 */
public final class CrossEntropyLoss extends Loss {

  /** A loss named "cross-entropy". */
  public CrossEntropyLoss() {
    super("cross-entropy");
  }

  /** The loss of logits (B,C) against labels (B) of any integer type: a scalar. */
  public static NDArray of(NDArray logits, NDArray labels) {
    if (logits.getShape().dimension() != 2) {
      throw new IllegalArgumentException("logits must be (B,C), got " + logits.getShape());
    }
    NDArray index = labels.toType(DataType.INT64, false).reshape(-1, 1);
    return logits.logSoftmax(1).gather(index, 1).mean().neg();
  }

  /** The loss of logits (1,C) for one bag with class {@code label}: a scalar. */
  public static NDArray of(NDArray logits, int label) {
    long classes = logits.getShape().get(logits.getShape().dimension() - 1);
    if (label < 0 || label >= classes) {
      throw new IllegalArgumentException("label " + label + " outside [0, " + classes + ")");
    }
    return logits.logSoftmax(1).get(new NDIndex(":, {}", label)).mean().neg();
  }

  @Override
  public NDArray evaluate(NDList labels, NDList predictions) {
    return of(predictions.get(0), labels.get(0));
  }
}
