package io.bagpipe.slide.synth;

/**
 * Stateless seeded hashing and value noise. Every random choice of the synthetic
 * slides is a pure function of (seed, coordinates), so any strip, tile or patch can
 * be computed alone and comes out the same however the slide is traversed.
 */
final class Noise {
  private Noise() {}

  /** SplitMix64 finaliser: a strong 64-bit mix. */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }

  static long hash(long seed, long a) {
    return mix(seed ^ mix(a + 0x9E3779B97F4A7C15L));
  }

  static long hash(long seed, long a, long b) {
    return mix(seed ^ mix(a * 0x9E3779B97F4A7C15L + mix(b ^ 0x632BE59BD9B4E019L)));
  }

  /** Uniform in [0, 1) from the top 53 bits. */
  static double unit(long h) {
    return (h >>> 11) * 0x1.0p-53;
  }

  /** Value noise in [0, 1) with lattice spacing {@code spacing}, smooth (C1) between lattice points. */
  static double value(long seed, double x, double y, double spacing) {
    double gx = x / spacing;
    double gy = y / spacing;
    long ix = (long) Math.floor(gx);
    long iy = (long) Math.floor(gy);
    double fx = fade(gx - ix);
    double fy = fade(gy - iy);
    double v00 = unit(hash(seed, ix, iy));
    double v10 = unit(hash(seed, ix + 1, iy));
    double v01 = unit(hash(seed, ix, iy + 1));
    double v11 = unit(hash(seed, ix + 1, iy + 1));
    double top = v00 + (v10 - v00) * fx;
    double bottom = v01 + (v11 - v01) * fx;
    return top + (bottom - top) * fy;
  }

  /**
   * Value noise that repeats every {@code periodX} x {@code periodY} lattice cells,
   * for seamless texture tiles; {@code sx}, {@code sy} are the cell sizes in pixels.
   */
  static double periodic(long seed, double x, double y, double sx, double sy, int periodX, int periodY) {
    double gx = x / sx;
    double gy = y / sy;
    long ix = (long) Math.floor(gx);
    long iy = (long) Math.floor(gy);
    double fx = fade(gx - ix);
    double fy = fade(gy - iy);
    long x0 = Math.floorMod(ix, periodX);
    long x1 = Math.floorMod(ix + 1, periodX);
    long y0 = Math.floorMod(iy, periodY);
    long y1 = Math.floorMod(iy + 1, periodY);
    double v00 = unit(hash(seed, x0, y0));
    double v10 = unit(hash(seed, x1, y0));
    double v01 = unit(hash(seed, x0, y1));
    double v11 = unit(hash(seed, x1, y1));
    double top = v00 + (v10 - v00) * fx;
    double bottom = v01 + (v11 - v01) * fx;
    return top + (bottom - top) * fy;
  }

  static double fade(double t) {
    return t * t * (3 - 2 * t);
  }

  static double clamp01(double v) {
    return v < 0 ? 0 : (v > 1 ? 1 : v);
  }
}
