package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import java.util.Objects;

/**
 * One model replica's training step, in three parts so that an all-reduce fits between them:
 * {@link #forwardBackward} a bag (gradients accumulate over calls, for several bags per step),
 * then {@link #readGradient} / {@link #writeGradient} the flat gradient (single bulk copies through
 * direct views of the gradients' memory), then {@link #applyOptimizer}, which updates the
 * parameters and zeroes the gradients.
 *
 * <p>Not thread-safe; one per replica, used from one thread. Gradients are recorded under
 * PyTorch's grad mode, which is thread-local, and not through DJL's {@code GradientCollector},
 * which allows one collector per process: so replicas on different threads of one JVM (two CPU
 * workers) train at the same time.
 */
public final class TrainingStep implements AutoCloseable {

  private final MilModel model;
  private final TrainableParameters parameters;
  private final Optimizer optimizer;
  private final ParameterStore store;
  private final double baseLr;
  private final LrSchedule schedule;
  private final float[] classWeights;
  private long lastForwardNanos;
  private long lastBackwardNanos;

  /**
   * A step for an initialised {@code model}, with a new optimizer as {@code settings} say (closed
   * with this step).
   */
  public TrainingStep(MilModel model, OptimizerSettings settings) {
    this(model, settings, LrSchedule.constant(), null);
  }

  /**
   * A step whose learning rate follows {@code schedule} over the global step
   * ({@link #applyOptimizer(long)}) and whose loss of a bag of class {@code c} is multiplied by
   * {@code classWeights[c]} ({@code null}: all 1).
   */
  public TrainingStep(MilModel model, OptimizerSettings settings, LrSchedule schedule, float[] classWeights) {
    this.model = Objects.requireNonNull(model, "model");
    this.schedule = Objects.requireNonNull(schedule, "schedule");
    this.baseLr = settings.lr();
    if (classWeights != null) {
      if (classWeights.length != model.classes()) {
        throw new IllegalArgumentException("bagpipe.train.class-weights: " + classWeights.length
            + " weights for " + model.classes() + " classes");
      }
      for (float w : classWeights) {
        if (!(w > 0) || Float.isInfinite(w)) {
          throw new IllegalArgumentException("bagpipe.train.class-weights: weights must be positive, got "
              + java.util.Arrays.toString(classWeights));
        }
      }
      classWeights = classWeights.clone();
    }
    this.classWeights = classWeights;
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
   * Forward in training mode, the pooling's training loss against {@code label} (the bag
   * cross-entropy, plus an instance-level term for CLAM, max-instance and DSMIL; times the
   * label's class weight, if any), backward: adds this bag's gradient to the parameters'
   * gradients. Temporaries are freed before returning; {@code bag}
   * stays with its manager.
   *
   * @param bag normalised float patches (N,3,H,W)
   * @param label the bag's class
   */
  public BagOutput forwardBackward(NDArray bag, int label) {
    checkLabel(label);
    boolean gradMode = JniUtils.isGradMode();
    try (NDManager scope = bag.getManager().newSubManager()) {
      bag.tempAttach(scope);
      JniUtils.setGradMode(true);
      long t0 = System.nanoTime();
      NDList out = model.forward(store, new NDList(bag), true);
      NDArray loss = model.pooling().trainingLoss(out, label);
      if (classWeights != null && classWeights[label] != 1f) {
        loss = loss.mul(classWeights[label]);
      }
      BagOutput result = output(loss, out);
      long t1 = System.nanoTime();
      NDArray seed = scope.ones(loss.getShape(), loss.getDataType(), loss.getDevice());
      JniUtils.backward((PtNDArray) loss, (PtNDArray) seed, false, false);
      long t2 = System.nanoTime();
      lastForwardNanos = t1 - t0;
      lastBackwardNanos = t2 - t1;
      return result;
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }

  /** Nanoseconds of the forward pass (with the loss) of the last {@link #forwardBackward}. */
  public long lastForwardNanos() {
    return lastForwardNanos;
  }

  /** Nanoseconds of the backward pass of the last {@link #forwardBackward}. */
  public long lastBackwardNanos() {
    return lastBackwardNanos;
  }

  /**
   * Forward in inference mode (BatchNorm uses running statistics), no gradients: for validation.
   * The loss reported is the bag cross-entropy for every pooling.
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

  /**
   * Copies the accumulated gradient into the first {@link #gradientSize()} values of {@code flat}.
   */
  public void readGradient(float[] flat) {
    parameters.readGradients(flat);
  }

  /**
   * Replaces the accumulated gradient with the first {@link #gradientSize()} values of
   * {@code flat}, e.g. the average over all replicas. A replica that has not trained a bag
   * yet (a worker that joined a running run and had no bag in its first steps) has no
   * gradient tensors: a backward pass of zero makes them first.
   */
  public void writeGradient(float[] flat) {
    if (!parameters.hasGradients()) {
      makeGradients();
    }
    parameters.writeGradients(flat);
  }

  private void makeGradients() {
    boolean gradMode = JniUtils.isGradMode();
    try (NDManager scope = parameters.array(0).getManager().newSubManager()) {
      JniUtils.setGradMode(true);
      NDArray zero = null;
      for (int i = 0; i < parameters.count(); i++) {
        NDArray term = parameters.array(i).sum();
        term.attach(scope);
        NDArray scaled = term.mul(0f);
        scaled.attach(scope);
        zero = zero == null ? scaled : zero.add(scaled);
        zero.attach(scope);
      }
      NDArray seed = scope.ones(zero.getShape(), zero.getDataType(), zero.getDevice());
      JniUtils.backward((PtNDArray) zero, (PtNDArray) seed, false, false);
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }

  /**
   * Applies the optimizer to the current gradients with the schedule's learning rate of global
   * step {@code globalStep} (0 for the run's first), then zeroes them for the next step.
   */
  public void applyOptimizer(long globalStep) {
    optimizer.learningRate(learningRate(globalStep));
    applyOptimizer();
  }

  /** The learning rate global step {@code globalStep} trains with. */
  public double learningRate(long globalStep) {
    return schedule.lr(baseLr, globalStep);
  }

  /** Applies the optimizer to the current gradients at its current learning rate, then zeroes them. */
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
