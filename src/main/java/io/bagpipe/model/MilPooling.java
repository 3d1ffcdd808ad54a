package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * MIL pooling over the patches of one bag: input the patch features (N,D), output an
 * {@link NDList} of the bag embedding (1,E), the patch weights (N), which sum to 1 and say how
 * much each patch contributed (for interpretability: heat maps over the slide), and, for the
 * zoo's poolings in training mode, further arrays their instance-level loss needs.
 *
 * <p>A pooling also says which head turns its embedding into logits ({@link #newHead}, a linear
 * layer unless it needs another) and what its training loss is ({@link #trainingLoss}: the bag
 * cross-entropy unless it adds an instance-level term). E is D for the four plain poolings.
 */
public abstract sealed class MilPooling extends AbstractBlock
    permits AttentionPooling, GatedAttentionPooling, MeanPooling, MaxPooling,
        ClamPooling, MaxInstancePooling, TransMilPooling, DsmilPooling {

  /** Builds the pooling {@code settings} name, with its hyper-parameters. */
  public static MilPooling create(ModelSettings settings) {
    int l = settings.attentionDim();
    int classes = settings.classes();
    ZooSettings zoo = settings.zoo();
    return switch (settings.pooling()) {
      case ATTENTION -> new AttentionPooling(l);
      case GATED_ATTENTION -> new GatedAttentionPooling(l);
      case MEAN -> new MeanPooling();
      case MAX -> new MaxPooling();
      case CLAM_SB -> new ClamPooling(false, l, classes, zoo.clam());
      case CLAM_MB -> new ClamPooling(true, l, classes, zoo.clam());
      case MAX_INSTANCE -> new MaxInstancePooling(l, classes, zoo.maxInstanceWeight());
      case TRANSMIL -> new TransMilPooling(zoo.transMil());
      case DSMIL -> new DsmilPooling(zoo.dsmilQueryDim(), classes);
    };
  }

  /** The head mapping this pooling's embedding (1,E) to logits (1,classes): Linear(E, classes). */
  public Block newHead(int classes) {
    return Linear.builder().setUnits(classes).build();
  }

  /**
   * The loss to train on, from a {@link MilModel} output of a training-mode forward pass
   * ([logits, weights, this pooling's extra arrays]) and the bag's class: the cross-entropy of
   * the logits unless the pooling adds an instance-level term.
   */
  public NDArray trainingLoss(NDList output, int label) {
    return CrossEntropyLoss.of(MilModel.logits(output), label);
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
