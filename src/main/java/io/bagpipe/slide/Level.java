package io.bagpipe.slide;

/**
 * One level of a slide's pyramid: its size in its own pixels and its downsample
 * factor relative to level 0 (level 0 has downsample 1).
 */
public record Level(int index, long width, long height, double downsample) {
  public Level {
    if (index < 0 || width <= 0 || height <= 0 || !(downsample >= 1.0 || index == 0 && downsample > 0)) {
      throw new IllegalArgumentException(
          "bad level " + index + ": " + width + "x" + height + " downsample " + downsample);
    }
  }
}
