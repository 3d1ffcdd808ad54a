package io.bagpipe.model;

/**
 * An optimizer over the {@link TrainableParameters} of one model, applying PyTorch's update
 * formulas to the gradients the parameters hold (after any all-reduce has overwritten them). Its
 * state can be read and restored for checkpoints; restoring and continuing gives the same
 * parameters as never stopping. DJL's own optimizers keep their state hidden and differ from
 * PyTorch in details, hence these.
 *
 * <p>Buffers live in native memory owned by the optimizer: close it when done.
 */
public sealed interface Optimizer extends AutoCloseable permits BufferedOptimizer {

  /** Builds the optimizer {@code settings} name, bound to {@code parameters}. */
  static Optimizer create(OptimizerSettings settings, TrainableParameters parameters) {
    return switch (settings.kind()) {
      case SGD -> new SgdOptimizer(settings, parameters);
      case ADAM -> new AdamOptimizer(settings, parameters, false);
      case ADAMW -> new AdamOptimizer(settings, parameters, true);
      case NOVOGRAD -> new NovogradOptimizer(settings, parameters);
    };
  }

  /** Updates every parameter in place from its current gradient; does not touch the gradients. */
  void step();

  /** The learning rate the next {@link #step} uses; it starts at the settings' {@code lr}. */
  double learningRate();

  /** Sets the learning rate of the following steps (a schedule's value for the coming step). */
  void learningRate(double lr);

  /** Steps taken so far. */
  long steps();

  /** A copy of the state. */
  OptimizerState state();

  /**
   * Replaces the state with {@code state}, e.g. from a checkpoint.
   *
   * @throws IllegalArgumentException if a buffer names no parameter of this optimizer, has the
   *     wrong size, or is not one this optimizer keeps
   */
  void load(OptimizerState state);

  @Override
  void close();
}
