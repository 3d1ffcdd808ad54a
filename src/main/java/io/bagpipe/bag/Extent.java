package io.bagpipe.bag;

/**
 * A slide's level-0 size in pixels, as its reader reports it; used to check that
 * patches lie inside the image.
 */
public record Extent(long width, long height) {

  public Extent {
    if (width < 1 || height < 1) {
      throw new IllegalArgumentException("slide extent must be positive, got " + width + " x " + height);
    }
  }

  /** Whether a square patch of {@code size} pixels with top-left corner (x, y) lies inside. */
  public boolean contains(long x, long y, int size) {
    return x >= 0 && y >= 0 && x + size <= width && y + size <= height;
  }

  @Override
  public String toString() {
    return width + " x " + height;
  }
}
