package io.bagpipe.slide;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;

/**
 * The {@code bagpipe.slide} settings.
 *
 * @param background colour of pixels outside the image and of transparent pixels
 * @param maxOpenSlides handles a {@link SlidePool} keeps open when idle
 * @param decoder how slides decode ({@code bagpipe.slide.decoder}), in every command that reads pixels
 */
public record SlideSettings(Rgb background, int maxOpenSlides, SlideDecoder decoder) {
  public SlideSettings {
    if (background == null) {
      throw new IllegalArgumentException("bagpipe.slide.background is required");
    }
    if (maxOpenSlides < 1) {
      throw new IllegalArgumentException("bagpipe.slide.max-open-slides must be >= 1, got " + maxOpenSlides);
    }
    if (decoder == null) {
      throw new IllegalArgumentException("bagpipe.slide.decoder is required");
    }
  }

  /** Reads {@code bagpipe.slide} (pass {@code config.getConfig("bagpipe.slide")}). */
  public static SlideSettings fromConfig(Config c) {
    try {
      return new SlideSettings(
          Rgb.of(c.getIntList("background"), "bagpipe.slide.background"), c.getInt("max-open-slides"),
          SlideDecoder.parse(c.getString("decoder")));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.slide: " + e.getMessage(), e);
    }
  }
}
