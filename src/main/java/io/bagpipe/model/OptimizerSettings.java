package io.bagpipe.model;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.util.List;
import java.util.Objects;

/**
 * The optimizer and its hyper-parameters ({@code bagpipe.optimizer}), with PyTorch's meaning.
 *
 * @param kind sgd, adam, adamw or novograd
 * @param lr learning rate
 * @param momentum SGD momentum (0 for none); unused by Adam
 * @param weightDecay L2 penalty added to the gradient (SGD, Adam) or decoupled decay (AdamW)
 * @param beta1 Adam's and Novograd's first-moment decay; unused by SGD
 * @param beta2 Adam's and Novograd's second-moment decay; unused by SGD
 * @param eps Adam's and Novograd's denominator term, added outside the square root; unused by SGD
 * @param gradAveraging Novograd's grad_averaging: the normalised gradient enters the first moment
 *     times {@code 1 - beta1}; unused by the others
 */
public record OptimizerSettings(
    OptimizerKind kind, double lr, double momentum, double weightDecay, double beta1, double beta2, double eps,
    boolean gradAveraging) {

  private static final String KEY = "bagpipe.optimizer.";

  public OptimizerSettings {
    Objects.requireNonNull(kind, "kind");
    require(lr > 0 && Double.isFinite(lr), "lr must be positive, got " + lr);
    require(momentum >= 0 && momentum < 1, "momentum must be in [0, 1), got " + momentum);
    require(weightDecay >= 0 && Double.isFinite(weightDecay), "weight-decay must be >= 0, got " + weightDecay);
    require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
        "betas must be in [0, 1), got [" + beta1 + ", " + beta2 + "]");
    require(eps > 0, "eps must be positive, got " + eps);
  }

  /** Settings of an optimizer that has no grad-averaging option (SGD, Adam, AdamW). */
  public OptimizerSettings(
      OptimizerKind kind, double lr, double momentum, double weightDecay, double beta1, double beta2, double eps) {
    this(kind, lr, momentum, weightDecay, beta1, beta2, eps, false);
  }

  /** Reads {@code bagpipe.optimizer}; a bad value is a {@link ConfigException.BadValue} naming its key. */
  public static OptimizerSettings fromConfig(Config c) {
    OptimizerKind kind;
    try {
      kind = OptimizerKind.named(c.getString("name"));
    } catch (IllegalArgumentException e) {
      throw new ConfigException.BadValue(c.getValue("name").origin(), KEY + "name", e.getMessage());
    }
    List<Double> betas = c.getDoubleList("betas");
    if (betas.size() != 2) {
      throw new ConfigException.BadValue(c.getValue("betas").origin(), KEY + "betas",
          "must be two numbers [beta1, beta2], got " + betas);
    }
    try {
      return new OptimizerSettings(kind, c.getDouble("lr"), c.getDouble("momentum"), c.getDouble("weight-decay"),
          betas.get(0), betas.get(1), c.getDouble("eps"), c.getBoolean("grad-averaging"));
    } catch (IllegalArgumentException e) {
      throw new ConfigException.BadValue(c.origin(), KEY.substring(0, KEY.length() - 1), e.getMessage());
    }
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(KEY + message);
    }
  }
}
