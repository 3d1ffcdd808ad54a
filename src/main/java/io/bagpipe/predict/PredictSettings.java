package io.bagpipe.predict;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;

/**
 * How {@code bagpipe predict} and {@code evaluate} work ({@code bagpipe.predict}).
 *
 * @param chunkPatches patches decoded and encoded at a time; bounds the pixels in memory per worker
 * @param heatmapSize longer side of a heatmap PNG in pixels; 0 writes no heatmaps
 * @param heatmapAlpha opacity of the attention colours over the thumbnail, in [0, 1]
 * @param topK attention patches per slide kept for the tumour hit rate of synthetic data
 */
public record PredictSettings(int chunkPatches, int heatmapSize, float heatmapAlpha, int topK) {

  private static final String KEY = "bagpipe.predict.";

  public PredictSettings {
    if (chunkPatches < 1) {
      throw new ConfigException.BadValue(KEY + "chunk-patches", "must be >= 1, got " + chunkPatches);
    }
    if (heatmapSize < 0) {
      throw new ConfigException.BadValue(KEY + "heatmap-size", "must be >= 0 (0: no heatmaps), got " + heatmapSize);
    }
    if (!(heatmapAlpha >= 0 && heatmapAlpha <= 1)) {
      throw new ConfigException.BadValue(KEY + "heatmap-alpha", "must be in [0, 1], got " + heatmapAlpha);
    }
    if (topK < 1) {
      throw new ConfigException.BadValue(KEY + "top-k", "must be >= 1, got " + topK);
    }
  }

  /** Reads {@code bagpipe.predict}; a bad value names its key. */
  public static PredictSettings fromConfig(Config c) {
    return new PredictSettings(c.getInt("chunk-patches"), c.getInt("heatmap-size"), (float) c.getDouble("heatmap-alpha"),
        c.getInt("top-k"));
  }
}
