package io.bagpipe.slide.synth;

/**
 * How {@link PyramidalTiffWriter} encodes a slide.
 *
 * @param tileSize edge of the square tiles in pixels; TIFF needs a multiple of 16
 * @param jpegQuality JPEG quality in (0, 1], as javax.imageio understands it
 * @param micronsPerPixel physical size of a level-0 pixel, written as X/YResolution
 *     in pixels per centimetre (OpenSlide reports it as {@code openslide.mpp-x/y})
 * @param description ImageDescription of level 0 (ASCII); no timestamps, so that
 *     the same input gives the same bytes
 */
public record TiffOptions(int tileSize, float jpegQuality, double micronsPerPixel, String description) {
  public TiffOptions {
    if (tileSize < 16 || tileSize > 4096 || tileSize % 16 != 0) {
      throw new IllegalArgumentException("tile size must be a multiple of 16 in [16, 4096], got " + tileSize);
    }
    if (!(jpegQuality > 0f && jpegQuality <= 1f)) {
      throw new IllegalArgumentException("JPEG quality must be in (0, 1], got " + jpegQuality);
    }
    if (!(micronsPerPixel > 0 && micronsPerPixel < 1000)) {
      throw new IllegalArgumentException("microns per pixel must be in (0, 1000), got " + micronsPerPixel);
    }
    if (description == null || !description.chars().allMatch(c -> c >= 0x20 && c < 0x7f)) {
      throw new IllegalArgumentException("description must be printable ASCII");
    }
  }
}
