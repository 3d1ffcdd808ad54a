package io.bagpipe.slide.synth;

/**
 * Paints a synthetic H&amp;E slide strip by strip: glass with faint noise, pink
 * fibrous stroma with scattered small purple nuclei, and dense regions with a more
 * purple ground: on positive slides tumour (crowded, large, irregular, lobulated
 * nuclei), on negative slides lymphoid aggregates (crowded, small, round, dark
 * nuclei) with about the same amount of purple, so that only the look of patches
 * tells the classes apart, not a slide's mean colour.
 *
 * <p>Cheap by construction: per pixel it interpolates two mask weights from the
 * {@link TissueMap} lattice and blends three precomputed seamless 256x256 texture
 * tiles (pure glass or pure stroma cells are plain copies). Nuclei live on fixed
 * grids; each grid cell's nucleus is a hash of (cell, seed), drawn only where it
 * overlaps the strip and always in the same order, so strips join without seams and
 * the result does not depend on how the slide is cut.
 */
public final class TissuePainter implements StripPainter {

  private static final int TEX = 256;
  private static final int CELL = TissueMap.CELL;
  /** Most a nucleus reaches from its cell centre (lobes included), in pixels. */
  private static final int REACH = 14;

  private final TissueMap map;
  private final long seed;
  private final boolean tumour;
  private final byte[] glass;
  private final byte[] stroma;
  private final byte[] dense;

  /** Nucleus kind: grid cell size, probability scale, radius range, ellipse ratio, colour, lobes. */
  private record Kind(int cell, double probability, double rMin, double rMax, double ratioMin, int[] rgb, int alpha,
      boolean lobed, boolean onDense, long salt) {}

  private static final Kind STROMA_NUCLEI =
      new Kind(20, 0.30, 2.4, 4.2, 0.55, new int[] {98, 58, 148}, 215, false, false, 0x51);
  private static final Kind TUMOUR_NUCLEI =
      new Kind(15, 0.85, 4.0, 7.0, 0.55, new int[] {82, 42, 128}, 205, true, true, 0x7A);
  private static final Kind LYMPHOID_NUCLEI =
      new Kind(8, 0.85, 2.2, 3.0, 0.85, new int[] {62, 32, 108}, 225, false, true, 0x1F);

  /** A painter for the slide {@code map} describes. */
  public TissuePainter(TissueMap map) {
    this.map = map;
    this.seed = map.recipe().seed();
    this.tumour = map.recipe().positive();
    long texSeed = Noise.hash(seed, 0x7E7);
    this.glass = texture(texSeed, new int[] {243, 241, 245}, new int[] {237, 235, 240}, 2.0, 1);
    this.stroma = texture(texSeed + 10, new int[] {246, 196, 220}, new int[] {214, 120, 168}, 5.0, 2);
    this.dense = texture(texSeed + 20, new int[] {220, 168, 212}, new int[] {176, 108, 172}, 5.0, 3);
  }

  /**
   * A seamless texture between colours {@code light} and {@code dark}: glass gets
   * soft blotches, stroma and dense ground get fibres (noise stretched along x).
   */
  private static byte[] texture(long seed, int[] light, int[] dark, double grain, int style) {
    byte[] t = new byte[TEX * TEX * 3];
    for (int y = 0; y < TEX; y++) {
      for (int x = 0; x < TEX; x++) {
        double f;
        if (style == 1) {
          f = Noise.periodic(seed, x, y, 64, 64, 4, 4);
        } else {
          double fibres = Noise.periodic(seed, x, y, 32, 5.12, 8, 50);
          double fine = Noise.periodic(seed + 1, x, y, 8, 4, 32, 64);
          double blotch = Noise.periodic(seed + 2, x, y, 64, 64, 4, 4);
          f = Noise.clamp01(0.55 * fibres + 0.2 * fine + 0.35 * blotch - 0.05);
          if (style == 3) {
            f = Noise.clamp01(0.7 * f + 0.3 * Noise.periodic(seed + 3, x, y, 16, 16, 16, 16));
          }
        }
        int i = (y * TEX + x) * 3;
        double g = (Noise.unit(Noise.hash(seed + 7, x, y)) - 0.5) * 2 * grain;
        for (int c = 0; c < 3; c++) {
          double v = light[c] + (dark[c] - light[c]) * f + g;
          t[i + c] = (byte) Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
    return t;
  }

  @Override
  public void paint(int y0, int rows, byte[] rgb, int width) {
    // Mask lattice rows covering the strip plus the reach of nuclei centred outside it.
    int ly0 = Math.floorDiv(y0 - REACH - CELL, CELL);
    int ly1 = (y0 + rows + REACH) / CELL + 2;
    int cols = width / CELL + 2;
    int latRows = ly1 - ly0 + 1;
    int[] t = new int[latRows * cols];
    int[] d = new int[latRows * cols];
    for (int j = 0; j < latRows; j++) {
      for (int i = 0; i < cols; i++) {
        t[j * cols + i] = (int) Math.round(map.tissueLattice(i, ly0 + j) * 256);
        d[j * cols + i] = (int) Math.round(map.denseLattice(i, ly0 + j) * 256);
      }
    }
    Lattice lattice = new Lattice(t, d, cols, ly0);
    int[] tRow = new int[cols];
    int[] dRow = new int[cols];
    for (int r = 0; r < rows; r++) {
      int y = y0 + r;
      int j = y / CELL - ly0;
      int fy = y % CELL;
      for (int i = 0; i < cols; i++) {
        int a = j * cols + i;
        tRow[i] = t[a] * (CELL - fy) + t[a + cols] * fy;
        dRow[i] = d[a] * (CELL - fy) + d[a + cols] * fy;
      }
      paintRow(rgb, r * width * 3, y, width, tRow, dRow);
    }
    drawNuclei(STROMA_NUCLEI, lattice, y0, rows, rgb, width);
    drawNuclei(tumour ? TUMOUR_NUCLEI : LYMPHOID_NUCLEI, lattice, y0, rows, rgb, width);
  }

  /** One row: glass, stroma and dense ground blended by the interpolated weights (x 256 x CELL). */
  private void paintRow(byte[] rgb, int rowOffset, int y, int width, int[] tRow, int[] dRow) {
    int texRow = (y & (TEX - 1)) * TEX * 3;
    for (int cx = 0; cx * CELL < width; cx++) {
      int x0 = cx * CELL;
      int n = Math.min(CELL, width - x0);
      int ta = tRow[cx];
      int tb = tRow[cx + 1];
      int da = dRow[cx];
      int db = dRow[cx + 1];
      int src = texRow + (x0 & (TEX - 1)) * 3;
      int dst = rowOffset + x0 * 3;
      if (ta == 0 && tb == 0) {
        System.arraycopy(glass, src, rgb, dst, n * 3);
        continue;
      }
      if (ta == 256 * CELL && tb == 256 * CELL && da == 0 && db == 0) {
        System.arraycopy(stroma, src, rgb, dst, n * 3);
        continue;
      }
      for (int k = 0; k < n; k++, src += 3, dst += 3) {
        // Weights in 0..256: the row sums carry 256 * CELL * CELL and CELL * CELL == 256.
        int tw = (ta * (CELL - k) + tb * k) >> 8;
        int dw = (da * (CELL - k) + db * k) >> 8;
        for (int c = 0; c < 3; c++) {
          int s = stroma[src + c] & 0xff;
          int m = s + ((((dense[src + c] & 0xff) - s) * dw) >> 8);
          int g = glass[src + c] & 0xff;
          rgb[dst + c] = (byte) (g + (((m - g) * tw) >> 8));
        }
      }
    }
  }

  /** Draws the nuclei of one grid whose discs overlap rows [y0, y0 + rows), in row-major cell order. */
  private void drawNuclei(Kind kind, Lattice lattice, int y0, int rows, byte[] rgb, int width) {
    int cell = kind.cell;
    int cy0 = Math.floorDiv(y0 - REACH, cell);
    int cy1 = Math.floorDiv(y0 + rows + REACH, cell);
    int cxMax = (width + REACH) / cell;
    long kindSeed = Noise.hash(seed, kind.salt);
    for (int cy = Math.max(0, cy0); cy <= cy1; cy++) {
      for (int cx = 0; cx <= cxMax; cx++) {
        long h = Noise.hash(kindSeed, cx, cy);
        double px = cx * cell + (0.15 + 0.7 * Noise.unit(h)) * cell;
        double py = cy * cell + (0.15 + 0.7 * Noise.unit(Noise.mix(h + 1))) * cell;
        double tw = lattice.tissue(px, py);
        if (tw <= 0) {
          continue;
        }
        double dw = lattice.dense(px, py);
        double p = kind.probability * tw * (kind.onDense ? dw : 1 - dw);
        if (Noise.unit(Noise.mix(h + 2)) >= p) {
          continue;
        }
        double r = kind.rMin + (kind.rMax - kind.rMin) * Noise.unit(Noise.mix(h + 3));
        double ratio = kind.ratioMin + (1 - kind.ratioMin) * Noise.unit(Noise.mix(h + 4));
        double angle = Math.PI * Noise.unit(Noise.mix(h + 5));
        double cos = StrictMath.cos(angle);
        double sin = StrictMath.sin(angle);
        int shade = (int) ((Noise.unit(Noise.mix(h + 6)) - 0.5) * 36);
        ellipse(rgb, width, y0, rows, px, py, r, r * ratio, cos, sin, kind, shade);
        if (kind.lobed) {
          double off = 0.55 * r;
          ellipse(rgb, width, y0, rows, px + off * sin, py - off * cos, 0.75 * r, 0.75 * r * ratio, cos, sin, kind,
              shade);
        }
      }
    }
  }

  private static void ellipse(byte[] rgb, int width, int y0, int rows, double px, double py, double a, double b,
      double cos, double sin, Kind kind, int shade) {
    int xa = Math.max(0, (int) Math.floor(px - a));
    int xb = Math.min(width - 1, (int) Math.ceil(px + a));
    int ya = Math.max(y0, (int) Math.floor(py - a));
    int yb = Math.min(y0 + rows - 1, (int) Math.ceil(py + a));
    double ia = 1 / (a * a);
    double ib = 1 / (b * b);
    int nr = clamp(kind.rgb[0] + shade);
    int ng = clamp(kind.rgb[1] + shade);
    int nb = clamp(kind.rgb[2] + shade);
    for (int y = ya; y <= yb; y++) {
      double dy = y + 0.5 - py;
      int row = (y - y0) * width * 3;
      for (int x = xa; x <= xb; x++) {
        double dx = x + 0.5 - px;
        double u = dx * cos + dy * sin;
        double v = -dx * sin + dy * cos;
        double q = u * u * ia + v * v * ib;
        if (q >= 1) {
          continue;
        }
        // Soft rim; tumour nuclei are a little paler inside (open chromatin).
        double edge = Math.min(1, (1 - q) * 4);
        double core = kind.lobed ? 0.8 + 0.2 * q : 1;
        int al = (int) (kind.alpha * edge * core);
        int i = row + x * 3;
        rgb[i] = (byte) blend(rgb[i] & 0xff, nr, al);
        rgb[i + 1] = (byte) blend(rgb[i + 1] & 0xff, ng, al);
        rgb[i + 2] = (byte) blend(rgb[i + 2] & 0xff, nb, al);
      }
    }
  }

  private static int blend(int under, int over, int alpha) {
    return under + (((over - under) * alpha) >> 8);
  }

  private static int clamp(int v) {
    return Math.max(0, Math.min(255, v));
  }

  /** The mask lattice rows of one strip, with bilinear lookups in [0, 1]. */
  private record Lattice(int[] tissue, int[] dense, int cols, int ly0) {
    double tissue(double x, double y) {
      return lookup(tissue, x, y);
    }

    double dense(double x, double y) {
      return lookup(dense, x, y);
    }

    private double lookup(int[] v, double x, double y) {
      double gx = x / CELL;
      double gy = y / CELL;
      int lx = (int) Math.floor(gx);
      int ly = (int) Math.floor(gy);
      int j = ly - ly0;
      if (lx < 0 || lx + 1 >= cols || j < 0 || (j + 1) * cols + lx + 1 >= v.length) {
        return 0;
      }
      double fx = gx - lx;
      double fy = gy - ly;
      int a = j * cols + lx;
      double top = v[a] + (v[a + 1] - v[a]) * fx;
      double bottom = v[a + cols] + (v[a + cols + 1] - v[a + cols]) * fx;
      return (top + (bottom - top) * fy) / 256;
    }
  }
}
