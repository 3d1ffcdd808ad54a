package io.bagpipe.model;

import java.util.Arrays;
import java.util.stream.Collectors;

/** How a bag's patch features become one bag embedding ({@code bagpipe.model.pooling}). */
public enum PoolingKind {
  /** Ilse et al. 2018: a = softmax over patches of w^T tanh(V h). */
  ATTENTION("attention"),
  /** Ilse et al. 2018, gated: a = softmax over patches of w^T (tanh(V h) * sigmoid(U h)). */
  GATED_ATTENTION("gated-attention"),
  /** The mean of the patch features. */
  MEAN("mean"),
  /** The element-wise maximum of the patch features. */
  MAX("max"),
  /** CLAM single-branch (Lu et al. 2021): gated attention plus the instance clustering loss. */
  CLAM_SB("clam-sb"),
  /** CLAM multi-branch: one gated-attention branch and one bag classifier per class. */
  CLAM_MB("clam-mb"),
  /** Gated attention plus a max-instance loss (mi-Net style) from an instance classifier. */
  MAX_INSTANCE("max-instance"),
  /** TransMIL (Shao et al. 2021): Nyström-attention transformer with PPEG position encoding. */
  TRANSMIL("transmil"),
  /** DSMIL (Li et al. 2021): critical instance, distance-based attention, max-instance loss. */
  DSMIL("dsmil");

  private final String configName;

  PoolingKind(String configName) {
    this.configName = configName;
  }

  /** The name used in configuration, e.g. {@code gated-attention}. */
  public String configName() {
    return configName;
  }

  /**
   * The kind with this configuration name.
   *
   * @throws IllegalArgumentException for an unknown name, listing the known ones
   */
  public static PoolingKind named(String name) {
    for (PoolingKind k : values()) {
      if (k.configName.equals(name)) {
        return k;
      }
    }
    throw new IllegalArgumentException("unknown pooling \"" + name + "\": use "
        + Arrays.stream(values()).map(PoolingKind::configName).collect(Collectors.joining(", ")));
  }
}
