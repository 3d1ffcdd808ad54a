package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Novograd (Ginsburg et al. 2019) as MONAI's {@code monai.optimizers.Novograd} computes it, without
 * amsgrad. Per parameter tensor ("layer"), with n = sum(g^2): the second moment v is n at the first
 * step with v = 0 and v = b2 v + (1 - b2) n after; the gradient is normalised by the layer's norm,
 * d = g / (sqrt(v) + eps) + weight_decay * w, times (1 - b1) with grad averaging; then
 * m = b1 m + d and w -= lr * m. There is no bias correction. State: {@code <parameter>.exp_avg}
 * (the parameter's shape) and {@code <parameter>.exp_avg_sq} (one value per parameter tensor).
 *
 * <p>Unlike MONAI, which divides the gradient in place, the gradients are left as they are.
 */
public final class NovogradOptimizer extends BufferedOptimizer {

  private final double beta1;
  private final double beta2;
  private final double eps;
  private final double weightDecay;
  private final boolean gradAveraging;

  /** Novograd with {@code settings}' lr, betas, eps, weight decay and grad averaging over {@code parameters}. */
  public NovogradOptimizer(OptimizerSettings settings, TrainableParameters parameters) {
    super(parameters, settings.lr(), "exp_avg", "exp_avg_sq");
    this.beta1 = settings.beta1();
    this.beta2 = settings.beta2();
    this.eps = settings.eps();
    this.weightDecay = settings.weightDecay();
    this.gradAveraging = settings.gradAveraging();
  }

  @Override
  Shape bufferShape(int i, int b) {
    return b == 1 ? new Shape() : super.bufferShape(i, b);
  }

  @Override
  void update(int i, NDArray w, NDArray g, NDManager scope) {
    if (buffers[i][0] == null) {
      buffers[i][0] = manager.zeros(w.getShape(), w.getDataType());
      buffers[i][1] = manager.zeros(new Shape(), w.getDataType());
    }
    NDArray m = buffers[i][0];
    NDArray v = buffers[i][1];
    NDArray norm = temp(temp(g.square(), scope).sum(), scope);
    // MONAI starts the average at the first non-zero norm: v == 0 takes n as it is.
    // Float factors: a double would promote these 0-dim arrays to float64.
    NDArray averaged = temp(v.mul((float) beta2), scope).addi(temp(norm.mul((float) (1 - beta2)), scope));
    NDArray next = NDArrays.where(temp(v.eq(0f), scope), norm, averaged);
    next.attach(manager);
    buffers[i][1] = next;
    v.close();
    NDArray d = temp(g.div(temp(temp(next.sqrt(), scope).add((float) eps), scope)), scope);
    if (weightDecay != 0) {
      d.addi(temp(w.mul(weightDecay), scope));
    }
    if (gradAveraging) {
      d.muli(1 - beta1);
    }
    m.muli(beta1).addi(d);
    w.subi(temp(m.mul(lr), scope));
  }
}
