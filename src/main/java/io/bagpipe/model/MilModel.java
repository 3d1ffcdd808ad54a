package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.SymbolBlock;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.Objects;

/**
 * A MIL model for one bag: patch encoder, MIL pooling, head (linear unless the pooling brings
 * another). Input a normalised float bag of patches (N,3,H,W), or the patches' features (N,D)
 * for {@link EncoderSpec.Features}; output an {@link NDList} of the logits (1,classes), the
 * patch weights (N) of the pooling and, in training mode, whatever further arrays the
 * pooling's instance-level loss needs (see {@link MilPooling}).
 *
 * <p>Its parameters, in {@link #getParameters()} order, are encoder ({@code 01encoder_...}),
 * pooling ({@code 02pooling_...}) and head ({@code 03head_...}; DJL prefixes child blocks with
 * their position); {@link TrainableParameters} fixes the flat gradient layout from that order.
 */
public final class MilModel extends AbstractBlock {

  private final Block encoder;
  private final MilPooling pooling;
  private final Block head;
  private final int classes;
  private boolean encoderFrozen;

  /**
   * Composes a model; it is uninitialised until {@link #initialize} (or use {@link #build}).
   *
   * @param encoder maps (N,3,H,W) to (N,D)
   * @param pooling maps (N,D) to [(1,D), (N)]
   * @param classes outputs of the linear head D->classes
   */
  public MilModel(Block encoder, MilPooling pooling, int classes) {
    if (classes < 1) {
      throw new IllegalArgumentException("classes must be positive, got " + classes);
    }
    this.encoder = addChildBlock("encoder", Objects.requireNonNull(encoder, "encoder"));
    this.pooling = addChildBlock("pooling", Objects.requireNonNull(pooling, "pooling"));
    this.head = addChildBlock("head", pooling.newHead(classes));
    this.classes = classes;
  }

  /**
   * Builds, initialises (for patches of side {@code patchSize}) and seeds a model as
   * {@code settings} say. Parameters live in {@code manager}; the TorchScript encoder keeps the
   * parameters of its file, everything else is set by {@link SeededInit} from the seed.
   */
  public static MilModel build(ModelSettings settings, NDManager manager, int patchSize) {
    MilModel model = new MilModel(
        Encoders.create(settings.encoder(), manager),
        MilPooling.create(settings),
        settings.classes());
    model.initialize(manager, DataType.FLOAT32, settings.encoder() instanceof EncoderSpec.Features(int dim)
        ? new Shape(2, dim) : new Shape(2, 3, patchSize, patchSize));
    if (model.encoder instanceof SymbolBlock) {
      SeededInit.apply(model.pooling, settings.seed());
      SeededInit.apply(model.head, settings.seed());
    } else {
      SeededInit.apply(model, settings.seed());
    }
    if (settings.freezeEncoder()) {
      model.freezeEncoder();
    }
    return model;
  }

  /**
   * Freezes the encoder: its parameters stop requiring gradients (so {@link TrainableParameters}
   * leaves them out: no gradient, no optimizer state, nothing to all-reduce), and it runs in
   * inference mode with gradients off even in a training forward pass. {@link #getParameters()}
   * still lists them, so checkpoints hold the whole model.
   */
  public void freezeEncoder() {
    encoder.freezeParameters(true);
    encoderFrozen = true;
  }

  /** Whether {@link #freezeEncoder} was called. */
  public boolean encoderFrozen() {
    return encoderFrozen;
  }

  /** The patch encoder. */
  public Block encoder() {
    return encoder;
  }

  /** The MIL pooling. */
  public MilPooling pooling() {
    return pooling;
  }

  /** The head: Linear(E, classes), or the pooling's own (CLAM-MB's per-class classifiers). */
  public Block head() {
    return head;
  }

  /** Number of classes (outputs of the head). */
  public int classes() {
    return classes;
  }

  /** The logits (1,classes) of a {@link #forward} output. */
  public static NDArray logits(NDList output) {
    return output.get(0);
  }

  /** The patch weights (N) of a {@link #forward} output. */
  public static NDArray weights(NDList output) {
    return output.get(1);
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray bag = inputs.singletonOrThrow();
    if (bag.getShape().dimension() == 2) { // features (N,D): the encoder ran before training (EncoderSpec.Features)
      return poolAndHead(ps, bag, training);
    }
    if (bag.getShape().dimension() != 4 || bag.getShape().get(1) != 3) {
      throw new IllegalArgumentException("a bag must be patches (N,3,H,W), got " + bag.getShape());
    }
    NDArray h;
    if (encoderFrozen) {
      boolean gradMode = JniUtils.isGradMode();
      JniUtils.setGradMode(false); // nothing upstream needs the encoder's graph
      try {
        h = encoder.forward(ps, new NDList(bag), false).singletonOrThrow();
        if (encoder instanceof SymbolBlock) {
          // a TorchScript module's inference forward runs under InferenceMode; its output cannot
          // be saved for the pooling's backward, a clone can
          h = h.duplicate();
        }
      } finally {
        JniUtils.setGradMode(gradMode);
      }
    } else {
      h = encoder.forward(ps, new NDList(bag), training).singletonOrThrow();
    }
    if (h.getShape().dimension() != 2) {
      h = h.reshape(h.getShape().get(0), -1);
    }
    return poolAndHead(ps, h, training);
  }

  /**
   * Pooling and head on patch features h (N,D): [logits, weights, the pooling's training-mode
   * extras]. The extras (CLAM's attention scores and instance logits, ...) are kept on both paths,
   * pixels and feature files, so the zoo's instance losses train on either.
   */
  private NDList poolAndHead(ParameterStore ps, NDArray h, boolean training) {
    NDList pooled = pooling.forward(ps, new NDList(h), training);
    NDArray logits = head.forward(ps, new NDList(MilPooling.embedding(pooled)), training).singletonOrThrow();
    NDList out = new NDList(logits, MilPooling.weights(pooled));
    for (int i = 2; i < pooled.size(); i++) {
      out.add(pooled.get(i));
    }
    return out;
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return new Shape[] {new Shape(1, classes), new Shape(inputShapes[0].get(0))};
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    encoder.initialize(manager, dataType, inputShapes);
    Shape features = encoder.getOutputShapes(inputShapes)[0];
    Shape h = new Shape(features.get(0), features.size() / features.get(0));
    pooling.initialize(manager, dataType, h);
    head.initialize(manager, dataType, pooling.getOutputShapes(new Shape[] {h})[0]);
  }
}
