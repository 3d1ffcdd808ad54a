package io.bagpipe.slide.tissue;

/**
 * A slide's tissue mask at low resolution: {@code width x height} mask pixels,
 * each covering {@code downsample x downsample} level-0 pixels, 1 for tissue and 0
 * for glass, with the RGB image it was computed from (for thumbnails). Its size is
 * the slide's divided by the downsample (about 64), never level 0's.
 *
 * @param level pyramid level that was read
 * @param downsample level-0 pixels per mask pixel along each axis
 * @param otsu the saturation threshold Otsu chose (pixels above it are tissue)
 */
public record TissueMask(int width, int height, double downsample, int level, int otsu, byte[] mask, byte[] rgb) {

  public TissueMask {
    if (width < 1 || height < 1 || mask.length != width * height || rgb.length != 3 * width * height || downsample <= 0) {
      throw new IllegalArgumentException("bad mask " + width + "x" + height + " downsample " + downsample);
    }
  }

  /** Whether mask pixel (x, y) is tissue. */
  public boolean tissue(int x, int y) {
    return mask[y * width + x] != 0;
  }

  /** Fraction of the mask that is tissue. */
  public double tissueFraction() {
    long n = 0;
    for (byte b : mask) {
      n += b;
    }
    return (double) n / mask.length;
  }

  /**
   * Fraction of the level-0 square at ({@code x}, {@code y}) with side {@code extent}
   * that the mask covers: each mask pixel counts by the area it shares with the square.
   */
  public double fraction(long x, long y, long extent) {
    double x0 = x / downsample;
    double y0 = y / downsample;
    double x1 = (x + extent) / downsample;
    double y1 = (y + extent) / downsample;
    double covered = 0;
    int jEnd = Math.min(height, (int) Math.ceil(y1));
    int iEnd = Math.min(width, (int) Math.ceil(x1));
    for (int j = Math.max(0, (int) Math.floor(y0)); j < jEnd; j++) {
      double wy = Math.min(j + 1, y1) - Math.max(j, y0);
      for (int i = Math.max(0, (int) Math.floor(x0)); i < iEnd; i++) {
        if (mask[j * width + i] != 0) {
          covered += wy * (Math.min(i + 1, x1) - Math.max(i, x0));
        }
      }
    }
    return covered / ((x1 - x0) * (y1 - y0));
  }
}
