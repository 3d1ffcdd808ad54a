package io.bagpipe.slide.tissue;

import io.bagpipe.slide.Level;
import io.bagpipe.slide.Slide;
import java.nio.ByteBuffer;

/**
 * Finds tissue on a slide the way CLAM's {@code segmentTissue} does: read the level
 * nearest a {@code seg-downsample} (64x) reduction, take the HSV saturation, median
 * blur it, threshold it with Otsu, close the mask, drop small regions and fill small
 * holes ({@link MaskOps}).
 *
 * <p>Memory stays bounded by the mask: the level is read in tiles of at most
 * {@value #TILE} pixels a side. A slide whose coarsest level is still much finer
 * than the target (a single-level TIFF, say) is reduced further while it is read,
 * each mask pixel the mean of an {@code f x f} block, so level 0 is never held whole.
 */
public final class TissueSegmenter {

  static final int TILE = 1024;

  private TissueSegmenter() {}

  /** The level CLAM would use: the coarsest whose downsample is at most {@code downsample} (level 0 if none). */
  public static int levelFor(Slide slide, double downsample) {
    int best = 0;
    for (Level l : slide.levels()) {
      if (l.downsample() <= downsample + 1e-6) {
        best = l.index();
      }
    }
    return best;
  }

  /**
   * Segments {@code slide}.
   *
   * @param areaScale level-0 pixels in one unit of {@code minTissueArea} / {@code minHoleArea}
   *     (the square of a patch's level-0 extent)
   */
  public static TissueMask segment(Slide slide, TissueSettings s, double areaScale) {
    int levelIndex = levelFor(slide, s.segDownsample());
    Level level = slide.level(levelIndex);
    // a level much finer than wanted (ds < target / 2) is reduced by f while read
    int f = level.downsample() * 2 < s.segDownsample() ? (int) Math.floor(s.segDownsample() / level.downsample()) : 1;
    long lw = level.width();
    long lh = level.height();
    long mw = (lw + f - 1) / f;
    long mh = (lh + f - 1) / f;
    if (mw * mh > 64L << 20) {
      throw new IllegalArgumentException("slide " + slide.path() + ": a tissue mask of " + mw + "x" + mh
          + " pixels is too large; raise bagpipe.patch.seg-downsample");
    }
    int w = (int) mw;
    int h = (int) mh;
    byte[] rgb = readReduced(slide, level, f, w, h);
    byte[] sat = new byte[w * h];
    for (int i = 0; i < sat.length; i++) {
      int r = rgb[3 * i] & 0xFF;
      int g = rgb[3 * i + 1] & 0xFF;
      int b = rgb[3 * i + 2] & 0xFF;
      int max = Math.max(r, Math.max(g, b));
      int min = Math.min(r, Math.min(g, b));
      // OpenCV's 8-bit HSV: S = 255 * (max - min) / max, rounded
      sat[i] = (byte) (max == 0 ? 0 : Math.round(255.0 * (max - min) / max));
    }
    byte[] blurred = MaskOps.median(sat, w, h, s.medianKernel());
    long[] hist = new long[256];
    for (byte v : blurred) {
      hist[v & 0xFF]++;
    }
    int t = MaskOps.otsu(hist);
    byte[] mask = new byte[w * h];
    for (int i = 0; i < mask.length; i++) {
      mask[i] = (byte) ((blurred[i] & 0xFF) > t ? 1 : 0);
    }
    mask = MaskOps.close(mask, w, h, s.closeKernel());
    double maskDs = level.downsample() * f;
    double unit = areaScale / (maskDs * maskDs); // mask pixels per area unit
    mask = MaskOps.filterRegions(mask, w, h, s.minTissueArea() * unit, s.minHoleArea() * unit, s.maxHoles());
    return new TissueMask(w, h, maskDs, levelIndex, t, mask, rgb);
  }

  /** Level {@code level} of {@code slide}, each {@code f x f} block averaged, read tile by tile. */
  private static byte[] readReduced(Slide slide, Level level, int f, int w, int h) {
    byte[] out = new byte[3 * w * h];
    int tileMask = Math.max(1, TILE / f); // mask pixels per tile side
    ByteBuffer buf = ByteBuffer.allocate(3 * tileMask * f * tileMask * f);
    long[] acc = new long[3 * tileMask * tileMask];
    int[] cnt = new int[tileMask * tileMask];
    for (int ty = 0; ty < h; ty += tileMask) {
      for (int tx = 0; tx < w; tx += tileMask) {
        long px = (long) tx * f;
        long py = (long) ty * f;
        int rw = (int) Math.min((long) tileMask * f, level.width() - px);
        int rh = (int) Math.min((long) tileMask * f, level.height() - py);
        buf.clear();
        slide.readRegion(level.index(), Math.round(px * level.downsample()), Math.round(py * level.downsample()), rw, rh,
            buf);
        byte[] a = buf.array();
        java.util.Arrays.fill(acc, 0);
        java.util.Arrays.fill(cnt, 0);
        for (int y = 0; y < rh; y++) {
          int my = y / f;
          for (int x = 0; x < rw; x++) {
            int m = my * tileMask + x / f;
            int p = 3 * (y * rw + x);
            acc[3 * m] += a[p] & 0xFF;
            acc[3 * m + 1] += a[p + 1] & 0xFF;
            acc[3 * m + 2] += a[p + 2] & 0xFF;
            cnt[m]++;
          }
        }
        int cols = (rw + f - 1) / f;
        int rows = (rh + f - 1) / f;
        for (int my = 0; my < rows; my++) {
          for (int mx = 0; mx < cols; mx++) {
            int m = my * tileMask + mx;
            int o = 3 * ((ty + my) * w + tx + mx);
            for (int c = 0; c < 3; c++) {
              out[o + c] = (byte) ((acc[3 * m + c] + cnt[m] / 2) / cnt[m]);
            }
          }
        }
      }
    }
    return out;
  }
}
