package io.bagpipe.slide;

import io.bagpipe.ExternalTools;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;

/** Slides for tests, written by real tools (vips) so reads are checked against OpenSlide's own files. */
public final class SlideFixtures {
  private SlideFixtures() {}

  public static final Rgb WHITE = new Rgb(255, 255, 255);

  /**
   * A {@code width x height} tiled, pyramidal, JPEG-compressed TIFF written by
   * {@code vips tiffsave --pyramid}, with smooth colour structure and noise.
   */
  public static Path vipsSlide(Path dir, String name, int width, int height) throws IOException, InterruptedException {
    return vipsSlide(dir, name, width, height, 90);
  }

  /**
   * As {@link #vipsSlide(Path, String, int, int)} at JPEG quality {@code quality}:
   * vips 8.14 writes RGB 4:4:4 JPEG tiles at 90 and above, YCbCr 4:2:0 below.
   */
  public static Path vipsSlide(Path dir, String name, int width, int height, int quality)
      throws IOException, InterruptedException {
    ExternalTools.require("vips");
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    SplittableRandom rnd = new SplittableRandom(7);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int r = (int) (128 + 100 * Math.sin(x / 97.0)) + rnd.nextInt(-10, 11);
        int g = (int) (128 + 100 * Math.cos(y / 61.0)) + rnd.nextInt(-10, 11);
        int b = ((x / 32 + y / 32) % 2 == 0) ? 200 : 60;
        img.setRGB(x, y, (clamp(r) << 16) | (clamp(g) << 8) | b);
      }
    }
    Path png = dir.resolve(name + ".png");
    ImageIO.write(img, "png", png.toFile());
    Path tif = dir.resolve(name + ".tif");
    ExternalTools.run(
        List.of(
            "vips", "tiffsave", png.toString(), tif.toString(), "--tile", "--tile-width", "256",
            "--tile-height", "256", "--pyramid", "--compression", "jpeg", "--Q", Integer.toString(quality)));
    return tif;
  }

  private static int clamp(int v) {
    return Math.max(0, Math.min(255, v));
  }
}
