package io.bagpipe.worker;

import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.loader.DecodedBag;
import java.util.List;

/**
 * One model replica on one device: the model, its optimizer and the gradient
 * buffers, owned by exactly one {@link Worker} and used only from its thread.
 * The worker drives a step as: {@link #accumulate} for each of its bags, then
 * {@link #gradient()} into the all-reduce, then {@link #apply} of the average.
 *
 * <p>The "gradient" exchanged is a flat vector that the replica lays out: the trainable
 * parameters' gradient, then whatever else replicas must average to stay identical (a
 * {@link DjlReplica} appends the change of its BatchNorm running statistics, weighted by its
 * bags). Every part is a sum over the replica's bags, so the all-reduce's division by the
 * step's total bags averages it.
 */
public interface Replica extends AutoCloseable {

  /**
   * Uploads the bag's uint8 pixels to the device, normalises them there, runs
   * forward and backward, and adds the bag's gradient to the accumulated one.
   */
  BagOutcome accumulate(DecodedBag bag);

  /** Number of floats in the flat gradient (all trainable parameters, then extra state; fixed order). */
  int gradientLength();

  /**
   * Copies the accumulated gradient (the sum over the bags since the last
   * {@link #apply} or {@link #discard}) into {@code into}, in the fixed parameter order,
   * followed by the replica's extra state weighted by those bags.
   */
  void gradient(float[] into);

  /**
   * Replaces the accumulated gradient by {@code average}'s gradient part (clipped, when the
   * replica clips) and takes one optimizer step with it at the learning rate of the run's
   * {@code globalStep} (0 for the first), sets the extra state from the rest of {@code average},
   * then clears the accumulation. Leaves {@code average} as it is (replicas of one JVM may
   * share it).
   */
  void apply(float[] average, long globalStep);

  /**
   * Clears the accumulated gradient without a step (a step all of whose bags failed, or one
   * dropped when its ring broke) and puts back the state of the last step applied.
   */
  void discard();

  /** Forward only: class probabilities and cross-entropy loss of the bag. */
  BagOutcome evaluate(DecodedBag bag);

  /**
   * A digest (CRC-32C) of every parameter's bits, BatchNorm running statistics
   * included: equal on replicas that are bit-identical, which the Coordinator checks
   * after every epoch.
   */
  long parameterDigest();

  /** The parameters, by name, in the fixed order. */
  List<NamedTensor> parameters();

  /** The optimizer's state (momentum buffers, moments, step count), by name. */
  List<NamedTensor> optimizerState();

  /** Replaces parameters and optimizer state (a resumed run, or a joining worker). */
  void load(List<NamedTensor> parameters, List<NamedTensor> optimizerState);

  @Override
  void close();

  /**
   * What one bag gave: its loss, class probabilities (evaluation) and the time
   * of each stage in nanoseconds.
   */
  record BagOutcome(double loss, float[] probabilities, long uploadNanos, long forwardNanos, long backwardNanos) {}
}
