package io.bagpipe.model;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.util.Objects;

/**
 * The MIL model to build ({@code bagpipe.model}): patch encoder, MIL pooling, linear head, and the
 * seed of the initial parameters.
 *
 * @param encoder the patch encoder
 * @param pooling how patch features become the bag embedding
 * @param attentionDim L, the hidden size of (gated) attention pooling; unused by mean and max
 * @param classes number of classes of the head (at least 2)
 * @param seed seeds the initial parameters: the same seed gives bit-identical parameters
 * @param zoo hyper-parameters of the zoo's poolings (CLAM, max-instance, TransMIL, DSMIL)
 * @param freezeEncoder the encoder is not trained: its parameters get no gradient and no
 *     optimizer state, are not all-reduced, and it runs in inference mode (BatchNorm uses its
 *     running statistics); only pooling and head learn
 */
public record ModelSettings(EncoderSpec encoder, PoolingKind pooling, int attentionDim, int classes, long seed,
    ZooSettings zoo, boolean freezeEncoder) {

  private static final String KEY = "bagpipe.model.";

  public ModelSettings {
    Objects.requireNonNull(encoder, "encoder");
    Objects.requireNonNull(pooling, "pooling");
    Objects.requireNonNull(zoo, "zoo");
    if (attentionDim < 1) {
      throw new IllegalArgumentException(KEY + "attention-dim must be positive, got " + attentionDim);
    }
    if (classes < 2) {
      throw new IllegalArgumentException(KEY + "classes must be at least 2, got " + classes);
    }
  }

  /** Settings with the zoo's hyper-parameters as reference.conf gives them, the encoder trained. */
  public ModelSettings(EncoderSpec encoder, PoolingKind pooling, int attentionDim, int classes, long seed) {
    this(encoder, pooling, attentionDim, classes, seed, ZooSettings.reference(), false);
  }

  /** These settings with the encoder frozen or not. */
  public ModelSettings withFreezeEncoder(boolean freeze) {
    return new ModelSettings(encoder, pooling, attentionDim, classes, seed, zoo, freeze);
  }

  /** Reads {@code bagpipe.model}; a bad value is a {@link ConfigException.BadValue} naming its key. */
  public static ModelSettings fromConfig(Config model) {
    EncoderSpec encoder;
    try {
      encoder = EncoderSpec.named(model.getString("encoder"), model.getString("torchscript-path"));
    } catch (IllegalArgumentException e) {
      throw new ConfigException.BadValue(model.getValue("encoder").origin(), KEY + "encoder", e.getMessage());
    }
    PoolingKind pooling;
    try {
      pooling = PoolingKind.named(model.getString("pooling"));
    } catch (IllegalArgumentException e) {
      throw new ConfigException.BadValue(model.getValue("pooling").origin(), KEY + "pooling", e.getMessage());
    }
    return new ModelSettings(encoder, pooling,
        atLeast(model, "attention-dim", 1), atLeast(model, "classes", 2), model.getLong("seed"),
        ZooSettings.fromConfig(model), model.getBoolean("freeze-encoder"));
  }

  private static int atLeast(Config c, String key, int min) {
    int v = c.getInt(key);
    if (v < min) {
      throw new ConfigException.BadValue(c.getValue(key).origin(), KEY + key,
          "must be an integer >= " + min + ", got " + v);
    }
    return v;
  }
}
