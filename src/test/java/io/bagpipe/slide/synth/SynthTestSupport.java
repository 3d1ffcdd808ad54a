package io.bagpipe.slide.synth;

import io.bagpipe.ExternalTools;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/** Helpers shared by the synth tests: OpenSlide's view of a file. */
final class SynthTestSupport {
  private SynthTestSupport() {}

  /** {@code openslide-show-properties} parsed into a map (values without quotes). */
  static Map<String, String> properties(Path slide) throws IOException, InterruptedException {
    ExternalTools.require("openslide-show-properties");
    String out = ExternalTools.run(List.of("openslide-show-properties", slide.toString()));
    Map<String, String> props = new HashMap<>();
    for (String line : out.split("\n")) {
      int colon = line.indexOf(": '");
      if (colon > 0 && line.endsWith("'")) {
        props.put(line.substring(0, colon), line.substring(colon + 3, line.length() - 1));
      }
    }
    return props;
  }

  /** A region as OpenSlide decodes it, through {@code openslide-write-png}. */
  static BufferedImage region(Path slide, int x, int y, int level, int w, int h, Path tmp)
      throws IOException, InterruptedException {
    ExternalTools.require("openslide-write-png");
    Path png = tmp.resolve("region-" + x + "-" + y + "-" + level + ".png");
    ExternalTools.run(
        List.of("openslide-write-png", slide.toString(), "" + x, "" + y, "" + level, "" + w, "" + h, png.toString()));
    return ImageIO.read(png.toFile());
  }

  /** Level-0 pixels rows [y0, y0 + rows) as the painter makes them, RGB interleaved. */
  static byte[] painted(TissuePainter painter, int width, int y0, int rows) {
    byte[] rgb = new byte[width * rows * 3];
    painter.paint(y0, rows, rgb, width);
    return rgb;
  }
}
