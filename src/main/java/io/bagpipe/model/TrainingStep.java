package io.bagpipe.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.util.Objects;

/**
 * One model replica's training step, in three parts so that an all-reduce fits between them:
 * {@link #forwardBackward} a bag (gradients accumulate over calls, for several bags per step),
 * then {@link #readGradient} / {@link #writeGradient} the flat gradient (single bulk copies through
 * direct views of the gradients' memory), then {@link #applyOptimizer}, which updates the
 * parameters and zeroes the gradients.
 *
 * <p>Not thread-safe; one per replica. DJL allows one {@code GradientCollector} per process at a
 * time, so replicas in the same JVM must not run {@link #forwardBackward} concurrently.
 */
public final class TrainingStep implements AutoCloseable {

  private final MilModel model;
  private final TrainableParameters parameters;
  private final Optimizer optimizer;
  private final ParameterStore store;

  /**
   * A step for an initialised {@code model}, with a new optimizer as {@code settings} say (closed
   * with this step).
   */
  public TrainingStep(MilModel model, OptimizerSettings settings) {
    this.model = Objects.requireNonNull(model, "model");
    this.parameters = new TrainableParameters(model);
    this.optimizer = Optimizer.create(settings, parameters);
    NDManager owner = parameters.array(0).getManager();
    this.store = new ParameterStore(owner, false);
    parameters.zeroGradients();
  }

  /** The model trained. */
  public MilModel model() {
    return model;
  }

  /** The trainable parameters and the flat layout of their gradients. */
  public TrainableParameters parameters() {
    return parameters;
  }

  /** The optimizer (for its checkpoint state). */
  public Optimizer optimizer() {
    return optimizer;
  }

  /** Length of the flat gradient. */
  public int gradientSize() {
    return parameters.size();
  }

  /**
   * Forward in training mode, cross-entropy against {@code label}, backward: adds this bag's
   * gradient to the parameters' gradients. Temporaries are freed before returning; {@code bag}
   * stays with its manager.
   *
   * @param bag normalised float patches (N,3,H,W)
   * @param label the bag's class
   */
  public BagOutput forwardBackward(NDArray bag, int label) {
    checkLabel(label);
    try (NDManager scope = bag.getManager().newSubManager()) {
      bag.tempAttach(scope);
      try (GradientCollector collector = Engine.getEngine(bag.getManager().getEngine().getEngineName())
          .newGradientCollector()) {
        NDList out = model.forward(store, new NDList(bag), true);
        NDArray loss = CrossEntropyLoss.of(MilModel.logits(out), label);
        collector.backward(loss);
        return output(loss, out);
      }
    }
  }

  /**
   * Forward in inference mode (BatchNorm uses running statistics), no gradients: for validation.
   */
  public BagOutput evaluate(NDArray bag, int label) {
    checkLabel(label);
    boolean gradMode = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
    try (NDManager scope = bag.getManager().newSubManager()) {
      bag.tempAttach(scope);
      NDList out = model.forward(store, new NDList(bag), false);
      return output(CrossEntropyLoss.of(MilModel.logits(out), label), out);
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }

  /** Copies the accumulated gradient into {@code flat} ({@link #gradientSize()} values). */
  public void readGradient(float[] flat) {
    parameters.readGradients(flat);
  }

  /** Replaces the accumulated gradient with {@code flat}, e.g. the average over all replicas. */
  public void writeGradient(float[] flat) {
    parameters.writeGradients(flat);
  }

  /** Applies the optimizer to the current gradients, then zeroes them for the next step. */
  public void applyOptimizer() {
    optimizer.step();
    parameters.zeroGradients();
  }

  @Override
  public void close() {
    optimizer.close();
  }

  private void checkLabel(int label) {
    if (label < 0 || label >= model.classes()) {
      throw new IllegalArgumentException("label " + label + " outside [0, " + model.classes() + ")");
    }
  }

  private static BagOutput output(NDArray loss, NDList out) {
    return new BagOutput(loss.getFloat(), MilModel.logits(out).toFloatArray(), MilModel.weights(out).toFloatArray());
  }
}
