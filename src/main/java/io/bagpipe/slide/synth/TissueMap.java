package io.bagpipe.slide.synth;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Where a synthetic slide has tissue and where it has dense regions (tumour on
 * positive slides, lymphoid aggregates on negatives), and which patches of the
 * patch grid are tissue. A pure function of the {@link SlideRecipe}: it stores no
 * image-sized arrays, so any point can be asked at any time.
 *
 * <p>Both masks are smooth seeded fields sampled on a lattice of {@link #CELL}
 * pixels and interpolated bilinearly in between; the painter uses the same lattice,
 * so what this class answers is what the pixels show. The tissue threshold is the
 * quantile that gives the recipe's coverage; the dense threshold is searched so
 * that exactly {@code round(denseFraction * tissuePatches)} tissue patches have a
 * dense centre. Positive and negative slides use the same fields and thresholds,
 * so tissue amount and dense-region layout carry no information about the label.
 *
 * <p>A recipe with a {@link SlideRecipe#densePatchCount() dense patch count} instead
 * makes exactly that many grid patches dense, drawn from the slide's seed among the
 * tissue patches that are tissue all over (all tissue patches when too few are).
 * Their dense weight is 1 at the lattice points strictly inside the patch and 0
 * elsewhere, so the dense region ramps up within one {@link #CELL} of the patch's
 * edges and never reaches a neighbouring patch of the grid.
 */
public final class TissueMap {

  /** Lattice spacing of the masks in level-0 pixels. */
  public static final int CELL = 16;

  private static final double DENSE_SOFT = 0.01;
  /** A tissue patch has tissue at its centre and at least this mean tissue over a 4x4 sample grid. */
  private static final double TISSUE_PATCH_MEAN = 0.7;

  /**
   * One patch of the grid that lies on tissue.
   *
   * @param x level-0 left edge
   * @param y level-0 top edge
   * @param dense whether its centre lies in a dense region (tumour on a positive slide)
   */
  public record Patch(int x, int y, boolean dense) {
    public Patch {
      if (x < 0 || y < 0) {
        throw new IllegalArgumentException("patch corner must not be negative: " + x + "," + y);
      }
    }
  }

  private final SlideRecipe recipe;
  private final long tissueSeed;
  private final long denseSeed;
  private final double tissueSpacing;
  private final double tissueSoft;
  private final double[][] blobs;
  private final double tissueThreshold;
  private final double denseThreshold;
  /** Top-left corners of the counted dense patches, or empty when dense regions follow the threshold. */
  private final int[][] denseCells;
  private final List<Patch> patches;

  /** Builds the masks and classifies the patch grid of {@code recipe}. */
  public TissueMap(SlideRecipe recipe) {
    this.recipe = recipe;
    this.tissueSeed = Noise.hash(recipe.seed(), 0x7155);
    this.denseSeed = Noise.hash(recipe.seed(), 0xDE45);
    this.tissueSpacing = Math.min(recipe.width(), recipe.height());
    this.tissueSoft = 150.0 / Math.min(recipe.width(), recipe.height());
    this.blobs = blobs(tissueSeed);
    this.tissueThreshold = quantileThreshold();
    List<int[]> tissue = tissuePatchCorners();
    this.denseCells = recipe.densePatchCount() > 0 ? denseCells(tissue) : new int[0][];
    this.denseThreshold = recipe.densePatchCount() > 0 ? 2.0 : denseThreshold(tissue);
    List<Patch> list = new ArrayList<>(tissue.size());
    for (int[] p : tissue) {
      list.add(new Patch(p[0], p[1], denseAt(p[0] + recipe.patchSize() / 2.0, p[1] + recipe.patchSize() / 2.0) >= 0.5));
    }
    this.patches = List.copyOf(list);
  }

  /** The recipe this map was built from. */
  public SlideRecipe recipe() {
    return recipe;
  }

  /** Tissue patches in row-major order (top to bottom, left to right). */
  public List<Patch> patches() {
    return patches;
  }

  /** Number of tissue patches whose centre is in a dense region. */
  public int densePatches() {
    return (int) patches.stream().filter(Patch::dense).count();
  }

  /** Tumour patches: the dense patches of a positive slide, none on a negative one. */
  public int tumourPatches() {
    return recipe.positive() ? densePatches() : 0;
  }

  /** Tissue weight in [0, 1] at level-0 point (x, y): 0 is glass, 1 is tissue. */
  public double tissueAt(double x, double y) {
    return bilinear(x, y, true);
  }

  /** Dense-region weight in [0, 1] at (x, y); it shows only where there is tissue. */
  public double denseAt(double x, double y) {
    return bilinear(x, y, false);
  }

  /** Tissue weight at lattice point (lx, ly), i.e. pixel (lx * CELL, ly * CELL). */
  double tissueLattice(long lx, long ly) {
    return Noise.clamp01((tissueRaw(lx * CELL, ly * CELL) - tissueThreshold) / tissueSoft + 0.5);
  }

  /** Dense weight at lattice point (lx, ly). */
  double denseLattice(long lx, long ly) {
    if (denseCells.length > 0) {
      long px = lx * CELL;
      long py = ly * CELL;
      int p = recipe.patchSize();
      for (int[] c : denseCells) {
        if (px > c[0] && px < c[0] + p && py > c[1] && py < c[1] + p) {
          return 1;
        }
      }
      return 0;
    }
    return Noise.clamp01((denseRaw(lx * CELL, ly * CELL) - denseThreshold) / DENSE_SOFT + 0.5);
  }

  private double bilinear(double x, double y, boolean tissue) {
    double gx = x / CELL;
    double gy = y / CELL;
    long lx = (long) Math.floor(gx);
    long ly = (long) Math.floor(gy);
    double fx = gx - lx;
    double fy = gy - ly;
    double v00 = tissue ? tissueLattice(lx, ly) : denseLattice(lx, ly);
    double v10 = tissue ? tissueLattice(lx + 1, ly) : denseLattice(lx + 1, ly);
    double v01 = tissue ? tissueLattice(lx, ly + 1) : denseLattice(lx, ly + 1);
    double v11 = tissue ? tissueLattice(lx + 1, ly + 1) : denseLattice(lx + 1, ly + 1);
    double top = v00 + (v10 - v00) * fx;
    double bottom = v01 + (v11 - v01) * fx;
    return top + (bottom - top) * fy;
  }

  /**
   * A few irregular blobs: 2 to 4 seeded ellipses (value 1 at the centre, 0 on the
   * rim) roughened by multi-octave noise, pushed down near the slide's borders.
   */
  private double tissueRaw(double x, double y) {
    double u = x / recipe.width();
    double v = y / recipe.height();
    double blob = -1;
    for (double[] b : blobs) {
      double du = u - b[0];
      double dv = v - b[1];
      double p = du * b[4] + dv * b[5];
      double q = -du * b[5] + dv * b[4];
      blob = Math.max(blob, 1 - Math.sqrt(p * p / (b[2] * b[2]) + q * q / (b[3] * b[3])));
    }
    double s = tissueSpacing;
    double noise =
        0.45 * Noise.value(tissueSeed + 1, x, y, s / 2.5)
            + 0.30 * Noise.value(tissueSeed + 2, x, y, s / 6)
            + 0.17 * Noise.value(tissueSeed + 3, x, y, Math.max(64, s / 16))
            + 0.08 * Noise.value(tissueSeed + 4, x, y, 48);
    return blob + 0.9 * (noise - 0.5) - 1.5 * (1 - border(u) * border(v));
  }

  /** Blob ellipses in slide fractions: centre u, v, radii, cos, sin of the rotation. */
  private static double[][] blobs(long seed) {
    int n = 2 + (int) (Noise.unit(Noise.hash(seed, 99)) * 3);
    double[][] b = new double[n][];
    for (int i = 0; i < n; i++) {
      long h = Noise.hash(seed, 100 + i);
      double angle = Math.PI * Noise.unit(Noise.mix(h + 5));
      b[i] =
          new double[] {
            0.25 + 0.5 * Noise.unit(h),
            0.25 + 0.5 * Noise.unit(Noise.mix(h + 1)),
            0.14 + 0.16 * Noise.unit(Noise.mix(h + 2)),
            0.10 + 0.14 * Noise.unit(Noise.mix(h + 3)),
            StrictMath.cos(angle),
            StrictMath.sin(angle)
          };
    }
    return b;
  }

  private double denseRaw(double x, double y) {
    return 0.65 * Noise.value(denseSeed, x, y, 640) + 0.35 * Noise.value(denseSeed + 1, x, y, 230);
  }

  private static double border(double u) {
    double d = Math.min(u, 1 - u);
    return Noise.fade(Noise.clamp01((d - 0.02) / 0.14));
  }

  /** The raw tissue value above which the recipe's fraction of the slide lies. */
  private double quantileThreshold() {
    int n = 128;
    double[] v = new double[n * n];
    for (int j = 0; j < n; j++) {
      for (int i = 0; i < n; i++) {
        v[j * n + i] = tissueRaw((i + 0.5) * recipe.width() / n, (j + 0.5) * recipe.height() / n);
      }
    }
    Arrays.sort(v);
    int k = (int) Math.min(v.length - 1, Math.max(0, Math.round((1 - recipe.tissueCoverage()) * v.length)));
    return v[k];
  }

  /** Top-left corners of grid patches that are mostly tissue, row-major. */
  private List<int[]> tissuePatchCorners() {
    int p = recipe.patchSize();
    List<int[]> out = new ArrayList<>();
    for (int y = 0; y + p <= recipe.height(); y += p) {
      for (int x = 0; x + p <= recipe.width(); x += p) {
        if (tissueAt(x + p / 2.0, y + p / 2.0) < 0.5) {
          continue;
        }
        double sum = 0;
        for (int j = 0; j < 4; j++) {
          for (int i = 0; i < 4; i++) {
            sum += tissueAt(x + (i + 0.5) * p / 4, y + (j + 0.5) * p / 4);
          }
        }
        if (sum / 16 >= TISSUE_PATCH_MEAN) {
          out.add(new int[] {x, y});
        }
      }
    }
    return out;
  }

  /**
   * The counted dense patches: a seeded draw without replacement among the tissue patches whose
   * 4x4 sample grid is all tissue (among all tissue patches when fewer than the count are).
   */
  private int[][] denseCells(List<int[]> tissue) {
    int count = recipe.densePatchCount();
    int p = recipe.patchSize();
    List<int[]> full = new ArrayList<>();
    for (int[] c : tissue) {
      boolean all = true;
      for (int j = 0; j < 4 && all; j++) {
        for (int i = 0; i < 4 && all; i++) {
          all = tissueAt(c[0] + (i + 0.5) * p / 4, c[1] + (j + 0.5) * p / 4) >= 0.99;
        }
      }
      if (all) {
        full.add(c);
      }
    }
    List<int[]> pool = new ArrayList<>(full.size() >= count ? full : tissue);
    if (pool.size() < count) {
      throw new IllegalArgumentException(recipe.id() + ": " + count + " dense patches asked (bagpipe.synth.tumour-patches)"
          + " but the slide has only " + pool.size() + " tissue patches; use larger slides or fewer tumour patches");
    }
    java.util.SplittableRandom rnd = new java.util.SplittableRandom(Noise.hash(recipe.seed(), 0xC0DE));
    int[][] chosen = new int[count][];
    for (int k = 0; k < count; k++) {
      int j = k + rnd.nextInt(pool.size() - k);
      int[] t = pool.get(j);
      pool.set(j, pool.get(k));
      pool.set(k, t);
      chosen[k] = t;
    }
    return chosen;
  }

  /**
   * Bisects the dense threshold so that round(denseFraction * tissue patches) patch
   * centres have dense weight >= 0.5 (the count only falls as the threshold rises).
   */
  private double denseThreshold(List<int[]> tissue) {
    int target = (int) Math.round(recipe.denseFraction() * tissue.size());
    int p = recipe.patchSize();
    int n = tissue.size();
    double[] raw = new double[4 * n];
    double[] fx = new double[n];
    double[] fy = new double[n];
    double lo = Double.MAX_VALUE;
    double hi = -Double.MAX_VALUE;
    for (int k = 0; k < n; k++) {
      double gx = (tissue.get(k)[0] + p / 2.0) / CELL;
      double gy = (tissue.get(k)[1] + p / 2.0) / CELL;
      long lx = (long) Math.floor(gx);
      long ly = (long) Math.floor(gy);
      fx[k] = gx - lx;
      fy[k] = gy - ly;
      raw[4 * k] = denseRaw(lx * CELL, ly * CELL);
      raw[4 * k + 1] = denseRaw((lx + 1) * CELL, ly * CELL);
      raw[4 * k + 2] = denseRaw(lx * CELL, (ly + 1) * CELL);
      raw[4 * k + 3] = denseRaw((lx + 1) * CELL, (ly + 1) * CELL);
      for (int c = 0; c < 4; c++) {
        lo = Math.min(lo, raw[4 * k + c]);
        hi = Math.max(hi, raw[4 * k + c]);
      }
    }
    if (target == 0 || n == 0) {
      return 2.0; // raw values are below 1: nothing is dense
    }
    lo -= 1;
    hi += 1;
    for (int it = 0; it < 80; it++) {
      double mid = (lo + hi) / 2;
      if (countDense(raw, fx, fy, mid) > target) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return hi;
  }

  private static int countDense(double[] raw, double[] fx, double[] fy, double threshold) {
    int count = 0;
    for (int k = 0; k < fx.length; k++) {
      double v00 = Noise.clamp01((raw[4 * k] - threshold) / DENSE_SOFT + 0.5);
      double v10 = Noise.clamp01((raw[4 * k + 1] - threshold) / DENSE_SOFT + 0.5);
      double v01 = Noise.clamp01((raw[4 * k + 2] - threshold) / DENSE_SOFT + 0.5);
      double v11 = Noise.clamp01((raw[4 * k + 3] - threshold) / DENSE_SOFT + 0.5);
      double top = v00 + (v10 - v00) * fx[k];
      double bottom = v01 + (v11 - v01) * fx[k];
      if (top + (bottom - top) * fy[k] >= 0.5) {
        count++;
      }
    }
    return count;
  }
}
