package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The parameters of a block that require gradients, in a fixed order ({@link Block#getParameters()}
 * order, which is the same on every replica built from the same settings), and the flat layout of
 * their values and gradients: parameter i occupies [offset(i), offset(i) + size(i)).
 *
 * <p>Flat copies go through {@link HostCopies}, one bulk copy per tensor: on the CPU a direct
 * view of the tensor's native memory (reading the gradient into a {@code float[]} is a single
 * pass, and so is writing the averaged gradient back); on another device staged through host
 * memory. BatchNorm running statistics are not trainable and not included.
 */
public final class TrainableParameters {

  private final List<String> names;
  private final List<Parameter> parameters;
  private final int[] offsets;
  private final int size;

  /** The trainable parameters of an initialised block. */
  public TrainableParameters(Block block) {
    List<String> n = new ArrayList<>();
    List<Parameter> p = new ArrayList<>();
    for (Pair<String, Parameter> pair : block.getParameters()) {
      Parameter param = pair.getValue();
      if (!param.isInitialized()) {
        throw new IllegalStateException("parameter " + pair.getKey() + " is not initialised");
      }
      if (param.requiresGradient() && param.getArray().hasGradient()) {
        n.add(pair.getKey());
        p.add(param);
      }
    }
    names = Collections.unmodifiableList(n);
    parameters = Collections.unmodifiableList(p);
    offsets = offsets(p);
    size = offsets[p.size()];
  }

  /** Where each of {@code p} starts in a flat array of them all, in order, and (last) their total size. */
  static int[] offsets(List<Parameter> p) {
    int[] offsets = new int[p.size() + 1];
    long total = 0;
    for (int i = 0; i < p.size(); i++) {
      offsets[i] = Math.toIntExact(total);
      total += p.get(i).getArray().size();
    }
    offsets[p.size()] = Math.toIntExact(total);
    return offsets;
  }

  /** Number of trainable tensors. */
  public int count() {
    return parameters.size();
  }

  /** Total number of trainable values: the length of a flat gradient. */
  public int size() {
    return size;
  }

  /** Names in flat order. */
  public List<String> names() {
    return names;
  }

  /** The i-th parameter in flat order. */
  public Parameter parameter(int i) {
    return parameters.get(i);
  }

  /** The i-th parameter's values (the live array, not a copy). */
  public NDArray array(int i) {
    return parameters.get(i).getArray();
  }

  /** Where the i-th parameter starts in a flat array. */
  public int offset(int i) {
    return offsets[i];
  }

  /**
   * Copies all gradients into the first {@link #size()} values of {@code flat}, one bulk copy per
   * tensor; a longer array keeps what follows (a replica appends its BatchNorm statistics there).
   */
  public void readGradients(float[] flat) {
    checkRoom(flat);
    for (int i = 0; i < parameters.size(); i++) {
      try (NDArray g = gradient(i)) {
        HostCopies.read(g, flat, offsets[i]);
      }
    }
  }

  /**
   * Overwrites all gradients with the first {@link #size()} values of {@code flat} (e.g. the
   * all-reduced average), in place, so the next optimizer step uses them.
   *
   * @throws IllegalStateException if a gradient does not exist yet (no backward pass has run)
   */
  public void writeGradients(float[] flat) {
    checkRoom(flat);
    for (int i = 0; i < parameters.size(); i++) {
      try (NDArray g = existingGradient(i)) {
        HostCopies.write(g, flat, offsets[i]);
      }
    }
  }

  /** Copies all parameter values into {@code flat}, e.g. to send them to a joining worker. */
  public void readValues(float[] flat) {
    checkLength(flat);
    for (int i = 0; i < parameters.size(); i++) {
      HostCopies.read(array(i), flat, offsets[i]);
    }
  }

  /** Overwrites all parameter values with {@code flat}, in place. */
  public void writeValues(float[] flat) {
    checkLength(flat);
    for (int i = 0; i < parameters.size(); i++) {
      HostCopies.write(array(i), flat, offsets[i]);
    }
  }

  /** Sets every gradient to zero in place (gradients accumulate over backward passes until then). */
  public void zeroGradients() {
    for (int i = 0; i < parameters.size(); i++) {
      JniUtils.zeroGrad((PtNDArray) array(i));
    }
  }

  /**
   * The i-th gradient as a new handle (close it). Before any backward pass PyTorch has no
   * gradient tensor and DJL returns a detached array of zeros.
   */
  public NDArray gradient(int i) {
    return array(i).getGradient();
  }

  /** Whether every parameter has a gradient tensor (PyTorch makes them at the first backward pass). */
  public boolean hasGradients() {
    for (int i = 0; i < parameters.size(); i++) {
      try (PtNDArray g = JniUtils.getGradient((PtNDArray) array(i))) {
        if (g == null) {
          return false;
        }
      }
    }
    return true;
  }

  private NDArray existingGradient(int i) {
    PtNDArray g = JniUtils.getGradient((PtNDArray) array(i));
    if (g == null) {
      throw new IllegalStateException("parameter " + names.get(i)
          + " has no gradient yet: run a backward pass before writing gradients");
    }
    return g;
  }

  private void checkRoom(float[] flat) {
    if (flat.length < size) {
      throw new IllegalArgumentException("flat array has " + flat.length + " values, the model's gradient " + size);
    }
  }

  private void checkLength(float[] flat) {
    if (flat.length != size) {
      throw new IllegalArgumentException("flat array has " + flat.length + " values, the model has " + size);
    }
  }
}
