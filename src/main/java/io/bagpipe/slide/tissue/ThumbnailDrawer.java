package io.bagpipe.slide.tissue;

import java.awt.image.BufferedImage;

/**
 * Draws a slide's thumbnail: the low-resolution image the mask came from, scaled by
 * a whole factor towards {@code thumbnail-size}, tissue tinted green with its outline
 * in dark green, and each kept patch outlined in blue.
 */
final class ThumbnailDrawer {

  private static final int OUTLINE = 0x007A1F;
  private static final int GRID = 0x1F4FFF;

  private final TissueMask mask;
  private final int k;
  private final BufferedImage img;

  ThumbnailDrawer(TissueMask mask, int size) {
    this.mask = mask;
    this.k = Math.max(1, size / Math.max(mask.width(), mask.height()));
    this.img = new BufferedImage(mask.width() * k, mask.height() * k, BufferedImage.TYPE_INT_RGB);
    byte[] rgb = mask.rgb();
    for (int y = 0; y < mask.height(); y++) {
      for (int x = 0; x < mask.width(); x++) {
        int i = 3 * (y * mask.width() + x);
        int r = rgb[i] & 0xFF;
        int g = rgb[i + 1] & 0xFF;
        int b = rgb[i + 2] & 0xFF;
        int c;
        if (mask.tissue(x, y) && edge(x, y)) {
          c = OUTLINE;
        } else if (mask.tissue(x, y)) {
          c = (r * 3 / 4) << 16 | (g * 3 / 4 + 64) << 8 | (b * 3 / 4);
        } else {
          c = r << 16 | g << 8 | b;
        }
        for (int dy = 0; dy < k; dy++) {
          for (int dx = 0; dx < k; dx++) {
            img.setRGB(x * k + dx, y * k + dy, c);
          }
        }
      }
    }
  }

  private boolean edge(int x, int y) {
    return x == 0 || y == 0 || x == mask.width() - 1 || y == mask.height() - 1 || !mask.tissue(x - 1, y)
        || !mask.tissue(x + 1, y) || !mask.tissue(x, y - 1) || !mask.tissue(x, y + 1);
  }

  /** Outlines the patch at level-0 ({@code x}, {@code y}) of side {@code extent}. */
  void patch(long x, long y, long extent) {
    double s = k / mask.downsample();
    int x0 = (int) Math.floor(x * s);
    int y0 = (int) Math.floor(y * s);
    int x1 = Math.min(img.getWidth() - 1, (int) Math.ceil((x + extent) * s) - 1);
    int y1 = Math.min(img.getHeight() - 1, (int) Math.ceil((y + extent) * s) - 1);
    if (x0 > x1 || y0 > y1 || x0 >= img.getWidth() || y0 >= img.getHeight()) {
      return;
    }
    for (int i = x0; i <= x1; i++) {
      img.setRGB(i, y0, GRID);
      img.setRGB(i, y1, GRID);
    }
    for (int j = y0; j <= y1; j++) {
      img.setRGB(x0, j, GRID);
      img.setRGB(x1, j, GRID);
    }
  }

  BufferedImage image() {
    return img;
  }
}
