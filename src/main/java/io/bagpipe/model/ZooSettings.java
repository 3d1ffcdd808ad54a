package io.bagpipe.model;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Hyper-parameters of the MIL model zoo's poolings ({@code bagpipe.model.clam},
 * {@code bagpipe.model.max-instance}, {@code bagpipe.model.transmil}, {@code bagpipe.model.dsmil});
 * each pooling reads only its own part. See docs/models.md.
 *
 * @param clam CLAM-SB and CLAM-MB
 * @param maxInstanceWeight weight of the max-instance loss added to the bag loss ({@code max-instance})
 * @param transMil TransMIL
 * @param dsmilQueryDim size of DSMIL's query vectors ({@code dsmil})
 */
public record ZooSettings(Clam clam, double maxInstanceWeight, TransMil transMil, int dsmilQueryDim) {

  private static final String KEY = "bagpipe.model.";

  public ZooSettings {
    Objects.requireNonNull(clam, "clam");
    Objects.requireNonNull(transMil, "transMil");
    if (!(maxInstanceWeight >= 0) || Double.isInfinite(maxInstanceWeight)) {
      throw new IllegalArgumentException(KEY + "max-instance.weight must be finite and >= 0, got " + maxInstanceWeight);
    }
    if (dsmilQueryDim < 1) {
      throw new IllegalArgumentException(KEY + "dsmil.query-dim must be positive, got " + dsmilQueryDim);
    }
  }

  /**
   * CLAM (Lu et al. 2021).
   *
   * @param hiddenDim size of the patch projection Linear(D, hidden) + ReLU ahead of the attention
   * @param kSample patches taken as pseudo-positive (top-k attention) and pseudo-negative (bottom-k)
   * @param bagWeight loss = bagWeight * bag loss + (1 - bagWeight) * instance loss
   * @param subtyping also push the other classes' instance classifiers to call the top-k negative
   */
  public record Clam(int hiddenDim, int kSample, double bagWeight, boolean subtyping) {
    public Clam {
      if (hiddenDim < 1) {
        throw new IllegalArgumentException(KEY + "clam.hidden-dim must be positive, got " + hiddenDim);
      }
      if (kSample < 1) {
        throw new IllegalArgumentException(KEY + "clam.k-sample must be positive, got " + kSample);
      }
      if (!(bagWeight >= 0 && bagWeight <= 1)) {
        throw new IllegalArgumentException(KEY + "clam.bag-weight must lie in [0, 1], got " + bagWeight);
      }
    }
  }

  /**
   * TransMIL (Shao et al. 2021) with Nyström attention.
   *
   * @param dim token size: patch features are projected Linear(D, dim) + ReLU
   * @param heads attention heads; dim must be a multiple of heads
   * @param landmarks Nyström landmarks m
   * @param pinvIterations iterations of the Moore-Penrose pseudo-inverse
   * @param residualKernel height of the depth-wise residual convolution over v (odd)
   */
  public record TransMil(int dim, int heads, int landmarks, int pinvIterations, int residualKernel) {
    public TransMil {
      if (heads < 1 || dim < 1 || dim % heads != 0) {
        throw new IllegalArgumentException(KEY + "transmil.dim (" + dim + ") must be a positive multiple of "
            + KEY + "transmil.heads (" + heads + ")");
      }
      if (landmarks < 1) {
        throw new IllegalArgumentException(KEY + "transmil.landmarks must be positive, got " + landmarks);
      }
      if (pinvIterations < 1) {
        throw new IllegalArgumentException(KEY + "transmil.pinv-iterations must be positive, got " + pinvIterations);
      }
      if (residualKernel < 1 || residualKernel % 2 == 0) {
        throw new IllegalArgumentException(KEY + "transmil.residual-kernel must be a positive odd number, got "
            + residualKernel);
      }
    }
  }

  /** Reads the zoo keys of {@code bagpipe.model}; a bad value is a {@link ConfigException} naming its key. */
  public static ZooSettings fromConfig(Config model) {
    try {
      return new ZooSettings(
          new Clam(model.getInt("clam.hidden-dim"), model.getInt("clam.k-sample"), model.getDouble("clam.bag-weight"),
              model.getBoolean("clam.subtyping")),
          model.getDouble("max-instance.weight"),
          new TransMil(model.getInt("transmil.dim"), model.getInt("transmil.heads"), model.getInt("transmil.landmarks"),
              model.getInt("transmil.pinv-iterations"), model.getInt("transmil.residual-kernel")),
          model.getInt("dsmil.query-dim"));
    } catch (IllegalArgumentException e) {
      throw new ConfigException.BadValue(model.origin(), "bagpipe.model", e.getMessage());
    }
  }

  /**
   * The keys under {@code bagpipe.model} that hold these hyper-parameters, in the order
   * {@link #asKeys} gives them. Checkpoints record each one, so a model is rebuilt from what it was
   * trained with, never from whatever the configuration says later.
   */
  public static final List<String> KEYS = List.of("clam.hidden-dim", "clam.k-sample", "clam.bag-weight",
      "clam.subtyping", "max-instance.weight", "transmil.dim", "transmil.heads", "transmil.landmarks",
      "transmil.pinv-iterations", "transmil.residual-kernel", "dsmil.query-dim");

  /** These values by their key under {@code bagpipe.model} ({@link #KEYS}), as text {@link #fromConfig} reads back. */
  public Map<String, String> asKeys() {
    Map<String, String> out = new LinkedHashMap<>();
    out.put("clam.hidden-dim", Integer.toString(clam.hiddenDim()));
    out.put("clam.k-sample", Integer.toString(clam.kSample()));
    out.put("clam.bag-weight", Double.toString(clam.bagWeight()));
    out.put("clam.subtyping", Boolean.toString(clam.subtyping()));
    out.put("max-instance.weight", Double.toString(maxInstanceWeight));
    out.put("transmil.dim", Integer.toString(transMil.dim()));
    out.put("transmil.heads", Integer.toString(transMil.heads()));
    out.put("transmil.landmarks", Integer.toString(transMil.landmarks()));
    out.put("transmil.pinv-iterations", Integer.toString(transMil.pinvIterations()));
    out.put("transmil.residual-kernel", Integer.toString(transMil.residualKernel()));
    out.put("dsmil.query-dim", Integer.toString(dsmilQueryDim));
    return out;
  }

  /** The values reference.conf gives, for code that builds a {@link ModelSettings} by hand. */
  public static ZooSettings reference() {
    return fromConfig(ConfigFactory.defaultReference().getConfig("bagpipe.model"));
  }
}
