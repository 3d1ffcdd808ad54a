package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;

/**
 * Gated attention pooling (as {@link GatedAttentionPooling}) with a max-instance auxiliary loss in
 * the style of mi-Net (Wang et al. 2018): an instance classifier Linear(D, classes) scores every
 * patch, the bag's instance logits are the per-class maximum over patches, and training adds
 * weight * CE(those logits, bag label) to the bag cross-entropy. The instance classifier is used
 * by the loss only; the bag's prediction comes from the attention embedding and the head.
 */
public final class MaxInstancePooling extends MilPooling {

  private final GatedAttentionPooling attention;
  private final Linear instance;
  private final double weight;

  /**
   * @param attentionDim the gated attention's hidden size
   * @param classes outputs of the instance classifier
   * @param weight weight of the max-instance loss
   */
  public MaxInstancePooling(int attentionDim, int classes, double weight) {
    this.attention = addChildBlock("att", new GatedAttentionPooling(attentionDim));
    this.instance = addChildBlock("inst", Linear.builder().setUnits(classes).build());
    this.weight = weight;
  }

  @Override
  NDList pool(ParameterStore ps, NDArray h, boolean training) {
    NDList out = attention.pool(ps, h, training);
    if (training) {
      out.add(instance.forward(ps, new NDList(h), true).singletonOrThrow()); // (N,C)
    }
    return out;
  }

  /** The attention logits (N,1) before the softmax over patches. */
  NDArray scores(ParameterStore ps, NDArray h, boolean training) {
    return attention.scores(ps, h, training);
  }

  @Override
  public NDArray trainingLoss(NDList output, int label) {
    if (output.size() < 3) {
      throw new IllegalArgumentException("the max-instance loss needs a training-mode output (instance logits)");
    }
    NDArray maxInstance = output.get(2).max(new int[] {0}, true); // (1,C)
    return super.trainingLoss(output, label).add(CrossEntropyLoss.of(maxInstance, label).mul((float) weight));
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    attention.initialize(manager, dataType, inputShapes[0]);
    instance.initialize(manager, dataType, inputShapes[0]);
  }
}
