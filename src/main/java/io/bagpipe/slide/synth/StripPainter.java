package io.bagpipe.slide.synth;

/**
 * Source of level-0 pixels for {@link PyramidalTiffWriter}: it is asked for the
 * image one horizontal strip at a time, top to bottom, each strip exactly once.
 */
@FunctionalInterface
public interface StripPainter {

  /**
   * Fills rows {@code [y0, y0 + rows)} of level 0 into {@code rgb}: interleaved
   * R, G, B bytes, row {@code r} of the strip starting at {@code r * width * 3}.
   * Every byte of those rows must be written (the buffer is reused between strips).
   */
  void paint(int y0, int rows, byte[] rgb, int width);
}
