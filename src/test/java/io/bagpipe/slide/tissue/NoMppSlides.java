package io.bagpipe.slide.tissue;

import io.bagpipe.slide.SlideFixtures;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Test slides that do not say their microns per pixel. */
public final class NoMppSlides {
  private NoMppSlides() {}

  /**
   * A vips slide whose ResolutionUnit (tag 296) is rewritten to 1, "no absolute unit",
   * in every IFD, so neither OpenSlide nor {@code Slide} can derive microns per pixel.
   */
  public static Path write(Path dir, String name, int width, int height) throws IOException, InterruptedException {
    Path tif = SlideFixtures.vipsSlide(dir, name, width, height);
    try (FileChannel ch = FileChannel.open(tif, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.allocate((int) ch.size());
      ch.read(b, 0);
      b.order(ByteOrder.LITTLE_ENDIAN);
      if (b.get(0) != 'I' || b.getShort(2) != 42) {
        throw new IOException(tif + " is not a little-endian classic TIFF");
      }
      long ifd = Integer.toUnsignedLong(b.getInt(4));
      while (ifd != 0) {
        int n = Short.toUnsignedInt(b.getShort((int) ifd));
        for (int i = 0; i < n; i++) {
          int e = (int) ifd + 2 + 12 * i;
          if (Short.toUnsignedInt(b.getShort(e)) == 296) {
            ch.write(ByteBuffer.wrap(new byte[] {1, 0}), e + 8);
          }
        }
        ifd = Integer.toUnsignedLong(b.getInt((int) ifd + 2 + 12 * n));
      }
    }
    return tif;
  }
}
