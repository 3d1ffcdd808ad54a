package io.bagpipe.model;

import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The BatchNorm running means and variances of a block, in {@link Block#getParameters()} order,
 * and their change over one optimizer step, so that replicas can average that change with their
 * gradients and stay bit-identical (docs/adr/0009-batchnorm-running-statistics-are-averaged-with-the-gradients.md).
 *
 * <p>A forward pass in training mode moves every running statistic towards the batch's own
 * statistic (PyTorch: {@code r <- (1 - m) r + m b}, momentum m = 0.1), and each replica sees other
 * bags. So a replica {@link #mark marks} the values at the start of a step, contributes
 * {@code w (r - start)} with the gradient (w its bags in the step, 0 when it had none), and sets
 * every statistic to {@code start + average} once the all-reduce has divided the sum by the
 * step's total bags. Statistics that did not move (an encoder run in inference mode) contribute
 * exact zeros and stay bit for bit as they were.
 *
 * <p>Not thread-safe; one per replica. Holds one float per statistic for the start values (about
 * 9.6 k for ResNet-18, 53 k for ResNet-50), independent of the data.
 */
public final class RunningStatistics {

  private final List<String> names;
  private final List<Parameter> parameters;
  private final int[] offsets;
  private final int size;
  /** The values at the start of the current step, flat. */
  private final float[] start;

  /** The running statistics of an initialised block; none for a block without BatchNorm. */
  public RunningStatistics(Block block) {
    List<String> n = new ArrayList<>();
    List<Parameter> p = new ArrayList<>();
    for (Pair<String, Parameter> pair : block.getParameters()) {
      Parameter param = pair.getValue();
      if (param.getType() == Parameter.Type.RUNNING_MEAN || param.getType() == Parameter.Type.RUNNING_VAR) {
        if (!param.isInitialized()) {
          throw new IllegalStateException("running statistic " + pair.getKey() + " is not initialised");
        }
        n.add(pair.getKey());
        p.add(param);
      }
    }
    names = Collections.unmodifiableList(n);
    parameters = Collections.unmodifiableList(p);
    offsets = TrainableParameters.offsets(p);
    size = offsets[p.size()];
    start = new float[size];
    mark();
  }

  /** Number of running-statistic values (0 without BatchNorm). */
  public int size() {
    return size;
  }

  /** Names in flat order. */
  public List<String> names() {
    return names;
  }

  /** Takes the current values as the start of the next step. */
  public void mark() {
    read(start, 0);
  }

  /** Copies the current values into {@code flat} from {@code from} on ({@link #size()} values). */
  public void read(float[] flat, int from) {
    checkRange(flat, from);
    for (int i = 0; i < parameters.size(); i++) {
      HostCopies.read(parameters.get(i).getArray(), flat, from + offsets[i]);
    }
  }

  /**
   * Writes {@code weight} times each statistic's change since {@link #mark} into {@code flat}
   * from {@code from} on: this replica's share of the step's sum, to be divided by the step's
   * total weight.
   */
  public void readChange(float[] flat, int from, int weight) {
    if (weight < 0) {
      throw new IllegalArgumentException("weight must be >= 0, got " + weight);
    }
    read(flat, from);
    for (int k = 0; k < size; k++) {
      flat[from + k] = weight == 0 ? 0f : weight * (flat[from + k] - start[k]);
    }
  }

  /**
   * Sets every statistic to its start value plus the averaged change in {@code flat} (from
   * {@code from} on), and marks the result as the next step's start. Replicas that marked the same
   * start and apply the same average end with the same bits.
   */
  public void applyChange(float[] flat, int from) {
    checkRange(flat, from);
    for (int k = 0; k < size; k++) {
      start[k] += flat[from + k];
    }
    restore();
  }

  /** Puts back the values of the last {@link #mark} (a step dropped or not applied). */
  public void restore() {
    for (int i = 0; i < parameters.size(); i++) {
      HostCopies.write(parameters.get(i).getArray(), start, offsets[i]);
    }
  }

  private void checkRange(float[] flat, int from) {
    if (from < 0 || flat.length - from < size) {
      throw new IllegalArgumentException("flat array of " + flat.length + " values has no room for " + size
          + " running statistics from " + from);
    }
  }
}
