package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * MIL pooling over the patches of one bag: input the patch features (N,D), output an
 * {@link NDList} of the bag embedding (1,D) and the patch weights (N), which sum to 1 and say how
 * much each patch contributed (for interpretability: heat maps over the slide).
 */
public abstract sealed class MilPooling extends AbstractBlock
    permits AttentionPooling, GatedAttentionPooling, MeanPooling, MaxPooling {

  /** Builds the pooling of this kind; {@code attentionDim} (L) is used by the attention kinds only. */
  public static MilPooling create(PoolingKind kind, int attentionDim) {
    return switch (kind) {
      case ATTENTION -> new AttentionPooling(attentionDim);
      case GATED_ATTENTION -> new GatedAttentionPooling(attentionDim);
      case MEAN -> new MeanPooling();
      case MAX -> new MaxPooling();
    };
  }

  /** The bag embedding (1,D) of a pooled output. */
  public static NDArray embedding(NDList pooled) {
    return pooled.get(0);
  }

  /** The patch weights (N) of a pooled output. */
  public static NDArray weights(NDList pooled) {
    return pooled.get(1);
  }

  @Override
  protected final NDList forwardInternal(
      ParameterStore parameterStore, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray h = inputs.singletonOrThrow();
    if (h.getShape().dimension() != 2) {
      throw new IllegalArgumentException("MIL pooling needs patch features (N,D), got " + h.getShape());
    }
    return pool(parameterStore, h, training);
  }

  /** Pools features (N,D) into [embedding (1,D), weights (N)]. */
  abstract NDList pool(ParameterStore parameterStore, NDArray h, boolean training);

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    Shape h = inputShapes[0];
    return new Shape[] {new Shape(1, h.get(1)), new Shape(h.get(0))};
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    for (var child : getChildren().values()) {
      child.initialize(manager, dataType, inputShapes);
    }
  }

  /** Softmax over the patches of scores (N,1), then [sum_i a_i h_i (1,D), a (N)]. */
  static NDList weighted(NDArray h, NDArray scores) {
    NDArray a = scores.softmax(0); // (N,1)
    NDArray z = a.mul(h).sum(new int[] {0}, true); // (1,D)
    return new NDList(z, a.reshape(-1));
  }
}
