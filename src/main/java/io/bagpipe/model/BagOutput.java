package io.bagpipe.model;

import java.util.Objects;

/**
 * What one bag gave through the model: its loss, its logits and the pooling's patch weights
 * (copies, safe to keep and send).
 *
 * @param loss the loss against the bag's label: in training the pooling's training loss, in
 *     evaluation the cross-entropy of the logits
 * @param logits the head's outputs, one per class
 * @param weights one weight per patch, summing to 1
 */
public record BagOutput(float loss, float[] logits, float[] weights) {

  public BagOutput {
    Objects.requireNonNull(logits, "logits");
    Objects.requireNonNull(weights, "weights");
  }

  /** The class with the largest logit (the first on ties). */
  public int predicted() {
    int best = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    return best;
  }
}
