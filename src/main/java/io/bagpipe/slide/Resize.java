package io.bagpipe.slide;

import java.nio.ByteBuffer;

/**
 * Resizes packed RGB uint8 images. Shrinking averages areas: each output pixel is
 * the mean of the source pixels it covers, each weighted by the part of it that
 * falls inside (as {@code cv2.INTER_AREA} does), separably in x then y. Enlarging
 * is bilinear with pixel centres at half-integers (as {@code cv2.INTER_LINEAR}).
 */
public final class Resize {

  private Resize() {}

  /**
   * Resizes the {@code sw x sh} image in {@code src} (offset 0) to {@code dw x dh},
   * writing {@code 3*dw*dh} bytes into {@code dest} at its position (which advances).
   */
  public static void rgb(byte[] src, int sw, int sh, ByteBuffer dest, int dw, int dh) {
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || src.length < 3 * sw * sh) {
      throw new IllegalArgumentException("bad resize " + sw + "x" + sh + " -> " + dw + "x" + dh);
    }
    float[] rows = new float[3 * dw * sh];
    Axis ax = new Axis(sw, dw);
    for (int y = 0; y < sh; y++) {
      for (int x = 0; x < dw; x++) {
        for (int k = ax.start[x]; k < ax.start[x + 1]; k++) {
          int s = 3 * (y * sw + ax.index[k]);
          float wgt = ax.weight[k];
          int o = 3 * (y * dw + x);
          rows[o] += wgt * (src[s] & 0xFF);
          rows[o + 1] += wgt * (src[s + 1] & 0xFF);
          rows[o + 2] += wgt * (src[s + 2] & 0xFF);
        }
      }
    }
    Axis ay = new Axis(sh, dh);
    float[] px = new float[3];
    for (int y = 0; y < dh; y++) {
      for (int x = 0; x < dw; x++) {
        px[0] = px[1] = px[2] = 0;
        for (int k = ay.start[y]; k < ay.start[y + 1]; k++) {
          int s = 3 * (ay.index[k] * dw + x);
          float wgt = ay.weight[k];
          px[0] += wgt * rows[s];
          px[1] += wgt * rows[s + 1];
          px[2] += wgt * rows[s + 2];
        }
        dest.put(clamp(px[0])).put(clamp(px[1])).put(clamp(px[2]));
      }
    }
  }

  private static byte clamp(float v) {
    int i = Math.round(v);
    return (byte) (i < 0 ? 0 : Math.min(i, 255));
  }

  /** Per output index, the source indices and weights (summing to 1) along one axis. */
  private static final class Axis {
    final int[] start;
    final int[] index;
    final float[] weight;

    Axis(int n, int m) {
      start = new int[m + 1];
      int[] idx = new int[m * (n / m + 3) + 2];
      float[] w = new float[idx.length];
      int k = 0;
      double scale = (double) n / m;
      for (int o = 0; o < m; o++) {
        start[o] = k;
        if (n >= m) { // area: source interval [o*scale, (o+1)*scale)
          double a = o * scale;
          double b = (o + 1) * scale;
          for (int s = (int) Math.floor(a); s < Math.min(n, (int) Math.ceil(b)); s++) {
            double cover = Math.min(s + 1, b) - Math.max(s, a);
            if (cover > 1e-9) {
              idx[k] = s;
              w[k++] = (float) (cover / scale);
            }
          }
        } else { // bilinear between the two nearest source centres
          double c = Math.max(0, Math.min(n - 1, (o + 0.5) * scale - 0.5));
          int s0 = (int) Math.floor(c);
          int s1 = Math.min(n - 1, s0 + 1);
          double f = c - s0;
          idx[k] = s0;
          w[k++] = (float) (1 - f);
          idx[k] = s1;
          w[k++] = (float) f;
        }
      }
      start[m] = k;
      index = idx;
      weight = w;
    }
  }
}
