package io.bagpipe.slide.tissue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The image operations of tissue segmentation, on row-major {@code byte} images
 * (values 0..255, or 0/1 for masks), in pure Java. Each mirrors the OpenCV call
 * CLAM's {@code segmentTissue} makes, including its border rules, so that a mask
 * here matches CLAM's on the same low-resolution image.
 */
public final class MaskOps {

  private MaskOps() {}

  /**
   * Otsu's threshold of a 256-bin histogram: the {@code t} that maximises the
   * between-class variance of {@code [0, t]} and {@code (t, 255]}, as OpenCV's
   * {@code THRESH_OTSU} (which then keeps pixels {@code > t}). 0 for an image of one value.
   */
  public static int otsu(long[] histogram) {
    if (histogram.length != 256) {
      throw new IllegalArgumentException("histogram must have 256 bins, got " + histogram.length);
    }
    double total = 0;
    double sum = 0;
    for (int i = 0; i < 256; i++) {
      total += histogram[i];
      sum += (double) i * histogram[i];
    }
    double w0 = 0;
    double sum0 = 0;
    double best = -1;
    int threshold = 0;
    for (int t = 0; t < 256; t++) {
      w0 += histogram[t];
      sum0 += (double) t * histogram[t];
      double w1 = total - w0;
      if (w0 == 0 || w1 == 0) {
        continue;
      }
      double mu0 = sum0 / w0;
      double mu1 = (sum - sum0) / w1;
      double between = w0 * w1 * (mu0 - mu1) * (mu0 - mu1);
      if (between > best) {
        best = between;
        threshold = t;
      }
    }
    return threshold;
  }

  /**
   * Median of each {@code k x k} window (k odd), borders replicated as OpenCV's
   * {@code medianBlur}. A running histogram per row (Huang's method) keeps the
   * cost near {@code 2k} updates per pixel.
   */
  public static byte[] median(byte[] img, int w, int h, int k) {
    if (k % 2 == 0 || k < 1) {
      throw new IllegalArgumentException("median kernel must be odd, got " + k);
    }
    if (k == 1) {
      return img.clone();
    }
    int r = k / 2;
    int half = k * k / 2; // the median is the value with `half` values below it
    byte[] out = new byte[img.length];
    int[] hist = new int[256];
    for (int y = 0; y < h; y++) {
      Arrays.fill(hist, 0);
      for (int dy = -r; dy <= r; dy++) {
        int yy = clamp(y + dy, h);
        for (int dx = -r; dx <= r; dx++) {
          hist[img[yy * w + clamp(dx, w)] & 0xFF]++;
        }
      }
      int m = 0;
      int below = 0;
      for (int x = 0; x < w; x++) {
        if (x > 0) {
          int xOut = clamp(x - r - 1, w);
          int xIn = clamp(x + r, w);
          for (int dy = -r; dy <= r; dy++) {
            int row = clamp(y + dy, h) * w;
            int vo = img[row + xOut] & 0xFF;
            int vi = img[row + xIn] & 0xFF;
            hist[vo]--;
            if (vo < m) {
              below--;
            }
            hist[vi]++;
            if (vi < m) {
              below++;
            }
          }
        }
        while (below > half) {
          m--;
          below -= hist[m];
        }
        while (below + hist[m] <= half) {
          below += hist[m];
          m++;
        }
        out[y * w + x] = (byte) m;
      }
    }
    return out;
  }

  /**
   * Morphological closing (dilate, then erode) of a 0/1 mask with a {@code k x k}
   * square: dilation takes the maximum over offsets {@code -k/2 .. k-1-k/2} and
   * erosion the minimum over the reflected offsets, so an even {@code k} does not
   * shift the mask (OpenCV uses the same offsets for both, which moves a region by a
   * pixel per closing when {@code k} is even). Pixels outside the image take no part,
   * as with OpenCV's default morphology border.
   */
  public static byte[] close(byte[] mask, int w, int h, int k) {
    if (k <= 1) {
      return mask.clone();
    }
    int lo = -(k / 2);
    int hi = k - 1 - k / 2;
    byte[] dilated = pass(pass(mask, w, h, lo, hi, true, true), w, h, lo, hi, true, false);
    return pass(pass(dilated, w, h, -hi, -lo, false, true), w, h, -hi, -lo, false, false);
  }

  /** One separable max (dilate) or min (erode) pass along x or y. */
  private static byte[] pass(byte[] in, int w, int h, int lo, int hi, boolean max, boolean alongX) {
    byte[] out = new byte[in.length];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int v = max ? 0 : 1;
        for (int d = lo; d <= hi; d++) {
          int xx = alongX ? x + d : x;
          int yy = alongX ? y : y + d;
          if (xx < 0 || yy < 0 || xx >= w || yy >= h) {
            continue;
          }
          int p = in[yy * w + xx];
          v = max ? Math.max(v, p) : Math.min(v, p);
        }
        out[y * w + x] = (byte) v;
      }
    }
    return out;
  }

  private static int clamp(int v, int n) {
    return v < 0 ? 0 : v >= n ? n - 1 : v;
  }

  /**
   * CLAM's contour filter on a 0/1 mask, with connected components standing in for
   * contours: tissue regions (8-connected) of fewer than {@code minArea} pixels are
   * dropped; holes (4-connected background regions that do not touch the border) of
   * a kept region are filled unless they are among its {@code maxHoles} largest and
   * larger than {@code minHoleArea} pixels. Returns the new mask.
   */
  public static byte[] filterRegions(byte[] mask, int w, int h, double minArea, double minHoleArea, int maxHoles) {
    int n = w * h;
    int[] fg = new int[n];
    int fgCount = label(mask, w, h, (byte) 1, true, fg);
    long[] fgArea = new long[fgCount + 1];
    long[] fgBox = new long[fgCount + 1]; // bounding-box area, to tell the enclosing region from islands
    int[][] box = boxes(fg, w, h, fgCount);
    for (int i = 0; i < n; i++) {
      fgArea[fg[i]]++;
    }
    for (int c = 1; c <= fgCount; c++) {
      fgBox[c] = (long) (box[c][2] - box[c][0] + 1) * (box[c][3] - box[c][1] + 1);
    }
    int[] bg = new int[n];
    int bgCount = label(mask, w, h, (byte) 0, false, bg);
    long[] bgArea = new long[bgCount + 1];
    boolean[] touchesBorder = new boolean[bgCount + 1];
    int[] parent = new int[bgCount + 1];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int i = y * w + x;
        int b = bg[i];
        if (b == 0) {
          continue;
        }
        bgArea[b]++;
        if (x == 0 || y == 0 || x == w - 1 || y == h - 1) {
          touchesBorder[b] = true;
        }
        // the enclosing region of a hole is its neighbour with the largest bounding box
        int[] nb = {x > 0 ? fg[i - 1] : 0, x < w - 1 ? fg[i + 1] : 0, y > 0 ? fg[i - w] : 0, y < h - 1 ? fg[i + w] : 0};
        for (int c : nb) {
          if (c != 0 && (parent[b] == 0 || fgBox[c] > fgBox[parent[b]])) {
            parent[b] = c;
          }
        }
      }
    }
    // CLAM: a region's area is its outer contour's minus its holes', i.e. its own pixels
    boolean[] keep = new boolean[fgCount + 1];
    for (int c = 1; c <= fgCount; c++) {
      keep[c] = fgArea[c] > 0 && fgArea[c] >= minArea;
    }
    List<List<Integer>> holesOf = new ArrayList<>();
    for (int c = 0; c <= fgCount; c++) {
      holesOf.add(new ArrayList<>());
    }
    for (int b = 1; b <= bgCount; b++) {
      if (!touchesBorder[b] && parent[b] != 0) {
        holesOf.get(parent[b]).add(b);
      }
    }
    boolean[] fill = new boolean[bgCount + 1];
    for (int c = 1; c <= fgCount; c++) {
      List<Integer> holes = holesOf.get(c);
      holes.sort((a, b) -> Long.compare(bgArea[b], bgArea[a]));
      for (int j = 0; j < holes.size(); j++) {
        int b = holes.get(j);
        fill[b] = keep[c] && (j >= maxHoles || bgArea[b] <= minHoleArea);
      }
    }
    // an island (a region all of whose background neighbours are one hole) inside a filled hole is filled too
    int[] onlyHole = new int[fgCount + 1];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int c = fg[y * w + x];
        if (c == 0 || onlyHole[c] == -1) {
          continue;
        }
        int i = y * w + x;
        int[] nb = {x > 0 ? bg[i - 1] : 0, x < w - 1 ? bg[i + 1] : 0, y > 0 ? bg[i - w] : 0, y < h - 1 ? bg[i + w] : 0};
        for (int b : nb) {
          if (b != 0) {
            onlyHole[c] = onlyHole[c] == 0 || onlyHole[c] == b ? b : -1;
          }
        }
      }
    }
    byte[] out = new byte[n];
    for (int i = 0; i < n; i++) {
      int c = fg[i];
      boolean tissue = c != 0 && (keep[c] || onlyHole[c] > 0 && fill[onlyHole[c]]);
      out[i] = (byte) (tissue || (bg[i] != 0 && fill[bg[i]]) ? 1 : 0);
    }
    return out;
  }

  /** Bounding boxes {minX, minY, maxX, maxY} of labels 1..count. */
  private static int[][] boxes(int[] labels, int w, int h, int count) {
    int[][] b = new int[count + 1][];
    for (int c = 0; c <= count; c++) {
      b[c] = new int[] {Integer.MAX_VALUE, Integer.MAX_VALUE, -1, -1};
    }
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int[] r = b[labels[y * w + x]];
        r[0] = Math.min(r[0], x);
        r[1] = Math.min(r[1], y);
        r[2] = Math.max(r[2], x);
        r[3] = Math.max(r[3], y);
      }
    }
    return b;
  }

  /**
   * Labels the connected regions of pixels equal to {@code value} with 1..count
   * (others 0), 8- or 4-connected; returns count. Iterative flood fill: no recursion.
   */
  static int label(byte[] mask, int w, int h, byte value, boolean eight, int[] labels) {
    int[] stack = new int[Math.max(16, w * h)];
    int count = 0;
    for (int start = 0; start < mask.length; start++) {
      if (mask[start] != value || labels[start] != 0) {
        continue;
      }
      count++;
      int sp = 0;
      stack[sp++] = start;
      labels[start] = count;
      while (sp > 0) {
        int i = stack[--sp];
        int x = i % w;
        int y = i / w;
        for (int dy = -1; dy <= 1; dy++) {
          for (int dx = -1; dx <= 1; dx++) {
            if ((dx == 0 && dy == 0) || (!eight && dx != 0 && dy != 0)) {
              continue;
            }
            int xx = x + dx;
            int yy = y + dy;
            if (xx < 0 || yy < 0 || xx >= w || yy >= h) {
              continue;
            }
            int j = yy * w + xx;
            if (mask[j] == value && labels[j] == 0) {
              labels[j] = count;
              stack[sp++] = j;
            }
          }
        }
      }
    }
    return count;
  }
}
