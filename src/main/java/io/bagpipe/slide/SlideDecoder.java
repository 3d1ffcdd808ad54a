package io.bagpipe.slide;

/**
 * How a {@link Slide} decodes its pixels ({@code bagpipe.slide.decoder}).
 *
 * <ul>
 *   <li>{@code AUTO}: tiled JPEG TIFFs that OpenSlide calls {@code generic-tiff}
 *       are decoded straight from their tiles with libturbojpeg, cropped to the
 *       iMCUs a region needs; every other slide, and any region that meets
 *       something unusual, is read through OpenSlide (docs/reading.md).
 *   <li>{@code OPENSLIDE}: every read goes through {@code openslide_read_region}.
 * </ul>
 */
public enum SlideDecoder {
  AUTO,
  OPENSLIDE;

  /** Parses a {@code bagpipe.slide.decoder} value; the message names the key. */
  public static SlideDecoder parse(String value) {
    return switch (value) {
      case "auto" -> AUTO;
      case "openslide" -> OPENSLIDE;
      default -> throw new IllegalArgumentException(
          "bagpipe.slide.decoder must be auto or openslide, got '" + value + "'");
    };
  }
}
