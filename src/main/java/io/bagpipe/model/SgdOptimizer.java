package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * torch.optim.SGD (no dampening, no Nesterov): g += weight_decay * w; with momentum m,
 * buf = g at the first step and buf = m * buf + g after; w -= lr * buf (w -= lr * g without
 * momentum). State: {@code <parameter>.momentum_buffer}.
 */
public final class SgdOptimizer extends BufferedOptimizer {

  private final double momentum;
  private final double weightDecay;

  /** SGD with {@code settings}' lr, momentum and weight decay over {@code parameters}. */
  public SgdOptimizer(OptimizerSettings settings, TrainableParameters parameters) {
    super(parameters, settings.lr(), "momentum_buffer");
    this.momentum = settings.momentum();
    this.weightDecay = settings.weightDecay();
  }

  @Override
  void update(int i, NDArray w, NDArray g, NDManager scope) {
    NDArray d = weightDecay != 0 ? g.add(temp(w.mul(weightDecay), scope)) : g;
    if (momentum != 0) {
      NDArray buf = buffers[i][0];
      if (buf == null) {
        buf = d.duplicate();
        buf.attach(manager);
        buffers[i][0] = buf;
      } else {
        buf.muli(momentum).addi(d);
      }
      d = buf;
    }
    w.subi(temp(d.mul(lr), scope));
  }
}
