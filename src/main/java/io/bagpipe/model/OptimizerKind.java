package io.bagpipe.model;

/** Which optimizer trains the model ({@code bagpipe.optimizer.name}). */
public enum OptimizerKind {
  /** torch.optim.SGD: momentum, L2 weight decay added to the gradient. */
  SGD("sgd"),
  /** torch.optim.Adam: L2 weight decay added to the gradient. */
  ADAM("adam"),
  /** torch.optim.AdamW: weight decay decoupled from the gradient. */
  ADAMW("adamw"),
  /** MONAI's Novograd: per-layer second moment of the gradient norm, no amsgrad. */
  NOVOGRAD("novograd");

  private final String configName;

  OptimizerKind(String configName) {
    this.configName = configName;
  }

  /** The name used in configuration. */
  public String configName() {
    return configName;
  }

  /**
   * The kind with this configuration name.
   *
   * @throws IllegalArgumentException for an unknown name
   */
  public static OptimizerKind named(String name) {
    for (OptimizerKind k : values()) {
      if (k.configName.equals(name)) {
        return k;
      }
    }
    throw new IllegalArgumentException("unknown optimizer \"" + name + "\": use sgd, adam, adamw or novograd");
  }
}
