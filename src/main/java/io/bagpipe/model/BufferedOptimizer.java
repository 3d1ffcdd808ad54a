package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Buffer handling shared by the optimizers: named per-parameter buffers (created on first use or
 * loaded), the step counter, and the step loop, which runs each parameter's update with autograd
 * off and frees its temporaries at once.
 */
abstract sealed class BufferedOptimizer implements Optimizer permits SgdOptimizer, AdamOptimizer, NovogradOptimizer {
  final TrainableParameters parameters;
  final NDManager manager;
  final NDArray[][] buffers;
  final String[] bufferNames;
  long step;
  double lr;

  BufferedOptimizer(TrainableParameters parameters, double lr, String... bufferNames) {
    if (parameters.count() == 0) {
      throw new IllegalArgumentException("nothing to optimize: the model has no trainable parameters");
    }
    this.parameters = parameters;
    this.lr = lr;
    this.bufferNames = bufferNames;
    this.manager = parameters.array(0).getManager().newSubManager();
    this.buffers = new NDArray[parameters.count()][bufferNames.length];
  }

  @Override
  public final double learningRate() {
    return lr;
  }

  @Override
  public final void learningRate(double lr) {
    if (!(lr >= 0) || Double.isInfinite(lr)) {
      throw new IllegalArgumentException("learning rate must be finite and >= 0, got " + lr);
    }
    this.lr = lr;
  }

  /** Shape of buffer {@code b} of parameter {@code i}: the parameter's own unless an optimizer keeps less. */
  ai.djl.ndarray.types.Shape bufferShape(int i, int b) {
    return parameters.array(i).getShape();
  }

  @Override
  public final long steps() {
    return step;
  }

  @Override
  public final OptimizerState state() {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (int i = 0; i < buffers.length; i++) {
      for (int b = 0; b < bufferNames.length; b++) {
        if (buffers[i][b] != null) {
          out.put(parameters.names().get(i) + "." + bufferNames[b], buffers[i][b].toFloatArray());
        }
      }
    }
    return new OptimizerState(step, out);
  }

  @Override
  public final void load(OptimizerState state) {
    Map<String, float[]> left = new LinkedHashMap<>(state.buffers());
    NDArray[][] loaded = new NDArray[buffers.length][bufferNames.length];
    for (int i = 0; i < buffers.length; i++) {
      for (int b = 0; b < bufferNames.length; b++) {
        String name = parameters.names().get(i) + "." + bufferNames[b];
        float[] values = left.remove(name);
        if (values != null) {
          ai.djl.ndarray.types.Shape shape = bufferShape(i, b);
          if (values.length != shape.size()) {
            throw new IllegalArgumentException("optimizer buffer " + name + " has " + values.length
                + " values, it needs " + shape.size() + " (shape " + shape + ")");
          }
          loaded[i][b] = manager.create(values, shape);
        }
      }
    }
    if (!left.isEmpty()) {
      for (NDArray[] row : loaded) {
        for (NDArray a : row) {
          if (a != null) {
            a.close();
          }
        }
      }
      throw new IllegalArgumentException("optimizer state names buffers this model/optimizer does not have: "
          + left.keySet());
    }
    for (int i = 0; i < buffers.length; i++) {
      for (int b = 0; b < bufferNames.length; b++) {
        if (buffers[i][b] != null) {
          buffers[i][b].close();
        }
        buffers[i][b] = loaded[i][b];
      }
    }
    step = state.step();
  }

  @Override
  public final void step() {
    boolean gradMode = JniUtils.isGradMode();
    JniUtils.setGradMode(false); // in-place updates of leaves that require gradients
    try {
      step++;
      for (int i = 0; i < buffers.length; i++) {
        try (NDManager scope = manager.newSubManager()) {
          NDArray g = parameters.gradient(i);
          g.attach(scope);
          update(i, parameters.array(i), g, scope);
        }
      }
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }

  /** Updates parameter {@code i} (values {@code w}) from gradient {@code g}; temporaries go to {@code scope}. */
  abstract void update(int i, NDArray w, NDArray g, NDManager scope);

  /** Moves an array computed from a parameter or buffer into the step's scope, so it is freed. */
  static NDArray temp(NDArray a, NDManager scope) {
    a.attach(scope);
    return a;
  }

  @Override
  public final void close() {
    manager.close();
  }

}
