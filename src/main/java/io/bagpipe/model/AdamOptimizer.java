package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * torch.optim.Adam and torch.optim.AdamW (no amsgrad). Adam adds weight_decay * w to the gradient;
 * AdamW instead first decays w *= 1 - lr * weight_decay. Then m = b1 m + (1-b1) g,
 * v = b2 v + (1-b2) g^2, w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), with eps
 * outside the square root. State: {@code <parameter>.exp_avg}, {@code <parameter>.exp_avg_sq} and
 * the step t.
 */
public final class AdamOptimizer extends BufferedOptimizer {

  private final double beta1;
  private final double beta2;
  private final double eps;
  private final double weightDecay;
  private final boolean decoupled;

  /**
   * Adam over {@code parameters}.
   *
   * @param decoupled true for AdamW's decoupled weight decay, false for Adam's L2 term
   */
  public AdamOptimizer(OptimizerSettings settings, TrainableParameters parameters, boolean decoupled) {
    super(parameters, settings.lr(), "exp_avg", "exp_avg_sq");
    this.beta1 = settings.beta1();
    this.beta2 = settings.beta2();
    this.eps = settings.eps();
    this.weightDecay = settings.weightDecay();
    this.decoupled = decoupled;
  }

  @Override
  void update(int i, NDArray w, NDArray g, NDManager scope) {
    if (weightDecay != 0) {
      if (decoupled) {
        w.muli(1 - lr * weightDecay);
      } else {
        g = g.add(temp(w.mul(weightDecay), scope));
      }
    }
    if (buffers[i][0] == null) {
      buffers[i][0] = manager.zeros(w.getShape(), w.getDataType());
      buffers[i][1] = manager.zeros(w.getShape(), w.getDataType());
    }
    NDArray m = buffers[i][0];
    NDArray v = buffers[i][1];
    m.muli(beta1).addi(g.mul(1 - beta1));
    v.muli(beta2).addi(g.mul(1 - beta2).muli(g));
    double biasCorrection1 = 1 - Math.pow(beta1, step);
    double biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
    double stepSize = lr / biasCorrection1;
    NDArray denom = temp(v.sqrt(), scope).divi(biasCorrection2Sqrt).addi(eps);
    w.subi(temp(m.div(denom), scope).muli(stepSize));
  }
}
