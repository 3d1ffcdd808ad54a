package io.bagpipe.slide;

import java.util.List;

/** An 8-bit RGB colour, e.g. the background given to pixels outside a slide. */
public record Rgb(int r, int g, int b) {
  public Rgb {
    if ((r | g | b) < 0 || r > 255 || g > 255 || b > 255) {
      throw new IllegalArgumentException("RGB components must be 0..255, got " + r + "," + g + "," + b);
    }
  }

  /** From a configuration list of three integers; {@code key} names the setting in errors. */
  public static Rgb of(List<Integer> rgb, String key) {
    if (rgb.size() != 3) {
      throw new IllegalArgumentException(key + " must be a list of three integers 0..255, got " + rgb);
    }
    try {
      return new Rgb(rgb.get(0), rgb.get(1), rgb.get(2));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(key + ": " + e.getMessage(), e);
    }
  }

  /** Packed as 0xRRGGBB. */
  public int packed() {
    return (r << 16) | (g << 8) | b;
  }
}
