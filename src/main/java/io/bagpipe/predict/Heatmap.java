package io.bagpipe.predict;

import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.slide.Level;
import io.bagpipe.slide.SlidePool;
import java.awt.AlphaComposite;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import javax.imageio.ImageIO;

/**
 * An attention heatmap: a thumbnail of the slide with each patch's level-0 square filled in a
 * colour of its score, alpha-blended.
 *
 * <p>The thumbnail's longer side is at most {@code size} pixels. It is read from the coarsest
 * pyramid level still at least as detailed as the thumbnail, in strips of rows (at most about
 * 8 MB of pixels at a time) that are scaled into it, so a slide with no small level costs
 * bounded memory too. Scores are shown by rank (a patch's colour is its percentile among the
 * slide's patches; equal scores share a colour): attention weights of a large slide span orders
 * of magnitude, and min-max scaling would leave all but a few patches the same colour.
 */
final class Heatmap {

  private static final long STRIP_BYTES = 8L << 20;

  private Heatmap() {}

  /** Renders the heatmap of {@code scores} over {@code patches} of the slide and writes it to {@code png}. */
  static void write(Path png, SlidePool slides, Path slide, PatchCoordinates patches, float[] scores, int patchSpan,
      int size, float alpha) throws IOException {
    BufferedImage image;
    try (SlidePool.Lease lease = slides.acquire(slide)) {
      Level zero = lease.slide().level(0);
      double scale = Math.min(1.0, size / (double) Math.max(zero.width(), zero.height()));
      int w = Math.max(1, (int) Math.round(zero.width() * scale));
      int h = Math.max(1, (int) Math.round(zero.height() * scale));
      image = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
      Graphics2D g = image.createGraphics();
      try {
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        Level level = zero;
        for (Level l : lease.slide().levels()) {
          if (l.downsample() <= 1 / scale + 1e-9 && l.downsample() > level.downsample()) {
            level = l;
          }
        }
        int lw = Math.toIntExact(level.width());
        int rows = (int) Math.max(1, Math.min(level.height(), STRIP_BYTES / (3L * lw)));
        ByteBuffer strip = ByteBuffer.allocateDirect(3 * lw * rows);
        for (int y = 0; y < level.height(); y += rows) {
          int n = (int) Math.min(rows, level.height() - y);
          strip.clear();
          lease.readRegion(level.index(), 0, Math.round(y * level.downsample()), lw, n, strip);
          BufferedImage part = new BufferedImage(lw, n, BufferedImage.TYPE_3BYTE_BGR);
          byte[] bgr = ((DataBufferByte) part.getRaster().getDataBuffer()).getData();
          strip.flip();
          for (int i = 0; i < lw * n; i++) {
            bgr[3 * i + 2] = strip.get();
            bgr[3 * i + 1] = strip.get();
            bgr[3 * i] = strip.get();
          }
          double f = scale * level.downsample();
          int top = (int) Math.floor(y * f);
          int bottom = (int) Math.ceil((y + n) * f);
          g.drawImage(part, 0, top, w, Math.max(top + 1, bottom), 0, 0, lw, n, null);
        }
        g.setComposite(AlphaComposite.getInstance(AlphaComposite.SRC_OVER, alpha));
        float[] ranks = ranks(scores);
        int side = Math.max(1, (int) Math.ceil(patchSpan * scale));
        for (int i = 0; i < patches.size(); i++) {
          g.setColor(colour(ranks[i]));
          g.fillRect((int) Math.floor(patches.x(i) * scale), (int) Math.floor(patches.y(i) * scale), side, side);
        }
      } finally {
        g.dispose();
      }
    }
    Files.createDirectories(png.getParent());
    Path part = png.resolveSibling(png.getFileName() + ".part");
    if (!ImageIO.write(image, "png", part.toFile())) {
      throw new IOException("no PNG writer for " + png);
    }
    Files.move(part, png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /** Each score's rank among {@code scores} scaled to [0, 1]; equal scores share their lowest rank. */
  static float[] ranks(float[] scores) {
    int n = scores.length;
    float[] out = new float[n];
    if (n < 2) {
      return out;
    }
    long[] keyed = new long[n]; // sortable bits of the score in the high half, index in the low half
    for (int i = 0; i < n; i++) {
      int bits = Float.floatToIntBits(scores[i]);
      bits ^= (bits >> 31) & 0x7FFFFFFF; // negative floats sort in reverse otherwise
      keyed[i] = ((long) bits << 32) | i;
    }
    Arrays.sort(keyed);
    int rank = 0;
    for (int r = 0; r < n; r++) {
      if (r > 0 && (keyed[r] >>> 32) != (keyed[r - 1] >>> 32)) {
        rank = r;
      }
      out[(int) keyed[r]] = rank / (float) (n - 1);
    }
    return out;
  }

  /** A blue-cyan-yellow-red colour ramp over [0, 1] (low attention blue, high red). */
  static Color colour(float t) {
    float[][] stops = {{0f, 0f, 0.5f}, {0f, 0.6f, 1f}, {1f, 0.9f, 0f}, {0.85f, 0f, 0f}};
    float x = Math.clamp(t, 0f, 1f) * (stops.length - 1);
    int i = Math.min(stops.length - 2, (int) x);
    float f = x - i;
    return new Color(stops[i][0] + f * (stops[i + 1][0] - stops[i][0]), stops[i][1] + f * (stops[i + 1][1] - stops[i][1]),
        stops[i][2] + f * (stops[i + 1][2] - stops[i][2]));
  }
}
