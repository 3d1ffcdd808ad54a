package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;

/**
 * Attention MIL pooling (Ilse et al. 2018): a = softmax over patches of w^T tanh(V h), embedding
 * sum_i a_i h_i. V is Linear(D->L), w is Linear(L->1), both with bias, as in the peer's model.
 */
public final class AttentionPooling extends MilPooling {

  private final Linear v;
  private final Linear w;

  /** @param attentionDim L, the hidden size of the attention network */
  public AttentionPooling(int attentionDim) {
    if (attentionDim < 1) {
      throw new IllegalArgumentException("attention-dim must be positive, got " + attentionDim);
    }
    v = addChildBlock("V", Linear.builder().setUnits(attentionDim).build());
    w = addChildBlock("w", Linear.builder().setUnits(1).build());
  }

  @Override
  NDList pool(ParameterStore ps, NDArray h, boolean training) {
    return weighted(h, scores(ps, h, training));
  }

  /** The attention logits w^T tanh(V h), (N,1), before the softmax over patches. */
  NDArray scores(ParameterStore ps, NDArray h, boolean training) {
    NDArray t = v.forward(ps, new NDList(h), training).singletonOrThrow().tanh();
    return w.forward(ps, new NDList(t), training).singletonOrThrow();
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    v.initialize(manager, dataType, inputShapes[0]);
    w.initialize(manager, dataType, v.getOutputShapes(inputShapes)[0]);
  }
}
