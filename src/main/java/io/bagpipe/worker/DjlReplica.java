package io.bagpipe.worker;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.loader.DecodedBag;
import io.bagpipe.model.BagOutput;
import io.bagpipe.model.BagStream;
import io.bagpipe.model.DeviceNames;
import io.bagpipe.model.GradientClipping;
import io.bagpipe.model.HostCopies;
import io.bagpipe.model.MilModel;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.OptimizerSettings;
import io.bagpipe.model.OptimizerState;
import io.bagpipe.model.PixelNormalization;
import io.bagpipe.model.RunningStatistics;
import io.bagpipe.model.TrainingStep;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link Replica} on DJL's PyTorch engine. Patches travel to the device as
 * uint8 NHWC (a quarter of the bytes of float) and are scaled, normalised and
 * transposed to NCHW there; training bags are augmented there too when
 * {@link TrainingHabits#augment()} asks. Every parameter, trainable or not (BatchNorm running
 * statistics), goes into checkpoints and the parameter digest.
 *
 * <p>The flat vector it hands the all-reduce is the summed gradient followed by its bags times
 * the change of every BatchNorm running statistic over the step ({@link RunningStatistics}); the
 * average sets the statistics, so replicas that saw different bags keep identical statistics.
 */
public final class DjlReplica implements Replica {

  /** Name of the optimizer's step count in checkpoints. */
  static final String OPTIMIZER_STEP = "optimizer.step";

  private final NDManager manager;
  private final MilModel model;
  private final TrainingStep step;
  private final RunningStatistics statistics;
  /** Bags accumulated since the last step applied or discarded: the weight of this replica's statistics. */
  private int bags;
  /** bagpipe.worker.normalize, on this replica's device. */
  private final PixelNormalization normalization;
  private final TrainingHabits habits;
  private final Augmentation augmentation;
  private double lastLr = Double.NaN;
  private double lastGradientNorm = Double.NaN;

  /**
   * Builds the model on {@code device} ({@code cpu} or {@code gpuN}) for patches of
   * side {@code patchSize}, seeded by the model settings (identical on every worker).
   */
  public DjlReplica(ModelSettings model, OptimizerSettings optimizer, WorkerSettings worker, String device, int patchSize) {
    this(model, optimizer, worker, device, patchSize, TrainingHabits.none());
  }

  /** As above, training with {@code habits}: schedule, clipping, class weights, augmentation. */
  public DjlReplica(ModelSettings model, OptimizerSettings optimizer, WorkerSettings worker, String device, int patchSize,
      TrainingHabits habits) {
    this.manager = NDManager.newBaseManager(DeviceNames.of(device));
    try {
      this.habits = habits;
      this.augmentation = new Augmentation(habits.augment(), habits.seed());
      this.model = MilModel.build(model, manager, patchSize);
      this.step = new TrainingStep(this.model, optimizer, habits.schedule(), habits.classWeights());
      this.statistics = new RunningStatistics(this.model);
      this.normalization = new PixelNormalization(manager, worker.mean(), worker.std());
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  /** Uploads the bag as uint8 NHWC and normalises it on the device into NCHW float32 ({@link PixelNormalization}). */
  NDArray upload(NDManager scope, DecodedBag bag) {
    if (bag.bag().features()) { // rows of a frozen encoder's features, float32 already
      return scope.create(bag.pixels().order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer(),
          new Shape(bag.patches(), bag.bag().featureDim()));
    }
    return normalization.upload(scope, bag.pixels(), bag.patches(), bag.patchSize());
  }

  /**
   * As {@link #upload}, with the bag's augmentation between the scaling to [0, 1] and the
   * normalisation; without augmentation exactly {@link #upload}.
   */
  NDArray uploadAugmented(NDManager scope, DecodedBag bag) {
    if (!augmentation.enabled()) {
      return upload(scope, bag);
    }
    NDArray unit = PixelNormalization.unit(scope, bag.pixels(), bag.patches(), bag.patchSize());
    NDArray changed = augmentation.apply(unit, bag.bag().epoch(), bag.bag().key());
    return normalization.fromUnit(changed);
  }

  @Override
  public BagOutcome accumulate(DecodedBag bag) {
    try (NDManager scope = manager.newSubManager()) {
      long t0 = System.nanoTime();
      NDArray x = uploadAugmented(scope, bag);
      long upload = System.nanoTime() - t0;
      BagOutput out = step.forwardBackward(x, bag.bag().label());
      bags++;
      return new BagOutcome(out.loss(), null, upload, step.lastForwardNanos(), step.lastBackwardNanos());
    }
  }

  @Override
  public BagOutcome evaluate(DecodedBag bag) {
    try (NDManager scope = manager.newSubManager()) {
      long t0 = System.nanoTime();
      NDArray x = upload(scope, bag);
      long t1 = System.nanoTime();
      BagOutput out = step.evaluate(x, bag.bag().label());
      return new BagOutcome(out.loss(), softmax(out.logits()), t1 - t0, System.nanoTime() - t1, 0);
    }
  }

  /** Class probabilities of {@code logits}, as {@link BagStream#softmax} computes them, in floats. */
  static float[] softmax(float[] logits) {
    double[] p = BagStream.softmax(logits);
    float[] out = new float[p.length];
    for (int i = 0; i < p.length; i++) {
      out[i] = (float) p[i];
    }
    return out;
  }

  @Override
  public int gradientLength() {
    return step.gradientSize() + statistics.size();
  }

  @Override
  public void gradient(float[] into) {
    if (into.length != gradientLength()) {
      throw new IllegalArgumentException("flat array has " + into.length + " values, the replica " + gradientLength());
    }
    step.readGradient(into);
    statistics.readChange(into, step.gradientSize(), bags);
  }

  @Override
  public void apply(float[] average, long globalStep) {
    if (average.length != gradientLength()) {
      throw new IllegalArgumentException("flat array has " + average.length + " values, the replica " + gradientLength());
    }
    // The average is the same bits on every replica, so every replica clips it alike. It may be
    // shared with replicas in this JVM, so it is clipped in a copy. Only the gradient part is
    // clipped; the BatchNorm statistics' changes after it are not gradient.
    float[] g = average;
    if (habits.clipNorm() > 0) {
      g = average.clone();
    }
    lastGradientNorm = GradientClipping.clip(g, step.gradientSize(), habits.clipNorm());
    step.writeGradient(g);
    lastLr = step.learningRate(globalStep);
    step.applyOptimizer(globalStep);
    statistics.applyChange(average, step.gradientSize());
    bags = 0;
  }

  /** The learning rate of the last {@link #apply}, NaN before the first. */
  double lastLearningRate() {
    return lastLr;
  }

  /** The averaged gradient's norm before clipping in the last {@link #apply}; NaN without clipping. */
  double lastGradientNorm() {
    return lastGradientNorm;
  }

  @Override
  public void discard() {
    step.parameters().zeroGradients();
    statistics.restore();
    bags = 0;
  }

  /** The BatchNorm running statistics (none without BatchNorm). */
  RunningStatistics statistics() {
    return statistics;
  }

  @Override
  public long parameterDigest() {
    java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
    for (Pair<String, Parameter> p : model.getParameters()) {
      crc.update(p.getValue().getArray().toByteBuffer());
    }
    return crc.getValue();
  }

  @Override
  public List<NamedTensor> parameters() {
    List<NamedTensor> out = new ArrayList<>();
    for (Pair<String, Parameter> p : model.getParameters()) {
      NDArray a = p.getValue().getArray();
      out.add(new NamedTensor(p.getKey(), a.getShape().getShape(), a.toType(DataType.FLOAT32, false).toFloatArray()));
    }
    return out;
  }

  @Override
  public List<NamedTensor> optimizerState() {
    OptimizerState s = step.optimizer().state();
    List<NamedTensor> out = new ArrayList<>();
    out.add(new NamedTensor(OPTIMIZER_STEP, new long[] {2}, new float[] {(float) (s.step() >>> 24), (float) (s.step() & 0xFFFFFF)}));
    for (Map.Entry<String, float[]> b : s.buffers().entrySet()) {
      out.add(new NamedTensor(b.getKey(), new long[] {b.getValue().length}, b.getValue()));
    }
    return out;
  }

  @Override
  public void load(List<NamedTensor> parameters, List<NamedTensor> optimizerState) {
    List<String> misfits = misfits(model, parameters);
    if (!misfits.isEmpty()) {
      throw new IllegalArgumentException("checkpoint does not fit this model: " + String.join("; ", misfits)
          + "; was it written with another bagpipe.model?");
    }
    Map<String, NamedTensor> byName = new HashMap<>();
    for (NamedTensor t : parameters) {
      byName.put(t.name(), t);
    }
    for (Pair<String, Parameter> p : model.getParameters()) {
      NamedTensor t = byName.remove(p.getKey());
      NDArray a = p.getValue().getArray();
      // In place, on the CPU or a GPU (NDArray.set(Buffer) swaps the storage and warns).
      HostCopies.write(a, t.data(), 0);
    }
    long steps = 0;
    Map<String, float[]> buffers = new LinkedHashMap<>();
    for (NamedTensor t : optimizerState) {
      if (t.name().equals(OPTIMIZER_STEP)) {
        steps = ((long) t.data()[0] << 24) | (long) t.data()[1];
      } else {
        buffers.put(t.name(), t.data());
      }
    }
    step.optimizer().load(new OptimizerState(steps, buffers));
    statistics.mark();
    bags = 0;
  }

  /**
   * How {@code parameters} (of a checkpoint) fail to fit the model that {@code model} and
   * {@code patchSize} build, one entry per parameter that is missing, shaped otherwise or
   * unknown to the model; empty when they fit. Builds the model on the CPU and closes it, so a
   * run can check a checkpoint before any worker starts.
   */
  public static List<String> misfits(ModelSettings model, int patchSize, List<NamedTensor> parameters) {
    try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      return misfits(MilModel.build(model, manager, patchSize), parameters);
    }
  }

  private static List<String> misfits(MilModel model, List<NamedTensor> parameters) {
    Map<String, NamedTensor> byName = new LinkedHashMap<>();
    for (NamedTensor t : parameters) {
      byName.put(t.name(), t);
    }
    List<String> misfits = new ArrayList<>();
    for (Pair<String, Parameter> p : model.getParameters()) {
      NamedTensor t = byName.remove(p.getKey());
      Shape shape = p.getValue().getArray().getShape();
      if (t == null) {
        misfits.add("parameter " + p.getKey() + " " + shape + " is missing");
      } else if (!new Shape(t.shape()).equals(shape)) {
        misfits.add("parameter " + p.getKey() + " has shape " + new Shape(t.shape()) + ", model " + shape);
      }
    }
    if (!byName.isEmpty()) {
      misfits.add("parameters this model lacks: " + byName.keySet());
    }
    return misfits;
  }

  @Override
  public void close() {
    step.close();
    manager.close();
  }
}
