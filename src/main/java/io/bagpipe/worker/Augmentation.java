package io.bagpipe.worker;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Random changes to a bag's patches on the device, after the uint8 upload and before
 * normalisation, on float RGB in [0, 1] laid out (N,3,H,W).
 *
 * <p>Every random choice of patch {@code i} of a bag comes from its own SplitMix64 stream keyed by
 * (run seed, epoch, bag key, i), drawn in Java in a fixed order: the same bag gets the same changes
 * on any worker, node or device, after a resume or a regrouped ring, and no choice depends on the
 * other patches. Per patch, in this order: left-right flip, top-bottom flip (each p = 1/2, with
 * {@code flips}), quarter turns k in 0..3 ({@code rotations}, counter-clockwise as
 * {@code torch.rot90(x, k, (2, 3))}), three HED scales and three shifts, a brightness factor and a
 * contrast factor; a disabled change draws nothing.
 *
 * <p>Flips and turns are applied per group of patches that share them (at most 16 groups), so a
 * bag costs a few tensor operations whatever its size. HED jitter converts to optical density
 * {@code od = -ln(max(x, 1e-6))}, to stain space with the inverse of scikit-image's
 * {@code rgb_from_hed} (Ruifrok and Johnston's vectors), scales and shifts each stain, and goes
 * back; all results are clamped to [0, 1].
 */
public final class Augmentation {

  /** scikit-image's rgb_from_hed: rows are the H, E and DAB stain vectors in RGB optical density. */
  static final double[][] RGB_FROM_HED = {{0.65, 0.70, 0.29}, {0.07, 0.99, 0.11}, {0.27, 0.57, 0.78}};
  static final double[][] HED_FROM_RGB = inverse(RGB_FROM_HED);
  private static final float MIN_INTENSITY = 1e-6f;
  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  private final AugmentSettings settings;
  private final long seed;

  /** Changes as {@code settings} say, seeded by the run's {@code seed} ({@code bagpipe.plan.seed}). */
  public Augmentation(AugmentSettings settings, long seed) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.seed = seed;
  }

  /** Whether {@link #apply} changes anything. */
  public boolean enabled() {
    return settings.enabled();
  }

  /**
   * The random choices for one patch.
   *
   * @param flipX mirrored left-right (last axis)
   * @param flipY mirrored top-bottom (second-last axis), after {@code flipX}
   * @param quarterTurns quarter turns, after the flips, as {@code torch.rot90(x, k, (2, 3))}
   * @param hedScale factors of the H, E and DAB densities
   * @param hedShift offsets added to them
   * @param brightness factor of every value
   * @param contrast factor of the deviation from the patch mean
   */
  public record Draw(boolean flipX, boolean flipY, int quarterTurns, float[] hedScale, float[] hedShift,
      float brightness, float contrast) {

    int group() {
      return (flipX ? 1 : 0) | (flipY ? 2 : 0) | quarterTurns << 2;
    }
  }

  /** The choices for patch {@code index} of the bag with {@code key} in {@code epoch}. */
  public Draw draw(int epoch, long key, int index) {
    long state = mix(mix(mix(mix(GOLDEN + seed) + GOLDEN + epoch) + GOLDEN + key) + GOLDEN + index);
    long[] s = {state};
    boolean fx = settings.flips() && (next(s) & 1) == 1;
    boolean fy = settings.flips() && (next(s) & 1) == 1;
    int k = settings.rotations() ? (int) (next(s) >>> 62) : 0;
    float[] scale = {1, 1, 1};
    float[] shift = {0, 0, 0};
    if (settings.hedStrength() > 0) {
      for (int c = 0; c < 3; c++) {
        scale[c] = (float) (1 + settings.hedStrength() * (2 * uniform(s) - 1));
      }
      for (int c = 0; c < 3; c++) {
        shift[c] = (float) (settings.hedStrength() * (2 * uniform(s) - 1));
      }
    }
    float b = settings.brightness() > 0 ? (float) (1 + settings.brightness() * (2 * uniform(s) - 1)) : 1f;
    float c = settings.contrast() > 0 ? (float) (1 + settings.contrast() * (2 * uniform(s) - 1)) : 1f;
    return new Draw(fx, fy, k, scale, shift, b, c);
  }

  /**
   * The bag's patches {@code x} (N,3,H,W, float in [0, 1]) changed as drawn for bag {@code key} of
   * {@code epoch}; a new array in {@code x}'s manager ({@code x} itself when nothing is enabled).
   */
  public NDArray apply(NDArray x, int epoch, long key) {
    if (!enabled()) {
      return x;
    }
    int n = (int) x.getShape().get(0);
    Draw[] draws = new Draw[n];
    for (int i = 0; i < n; i++) {
      draws[i] = draw(epoch, key, i);
    }
    NDManager m = x.getManager();
    NDArray out = x;
    if (settings.flips() || settings.rotations()) {
      out = geometry(out, draws);
    }
    if (settings.hedStrength() > 0) {
      float[] scale = new float[n * 3];
      float[] shift = new float[n * 3];
      for (int i = 0; i < n; i++) {
        System.arraycopy(draws[i].hedScale(), 0, scale, i * 3, 3);
        System.arraycopy(draws[i].hedShift(), 0, shift, i * 3, 3);
      }
      out = hed(out, m.create(scale, new Shape(n, 3, 1)), m.create(shift, new Shape(n, 3, 1)));
    }
    if (settings.brightness() > 0 || settings.contrast() > 0) {
      float[] b = new float[n];
      float[] c = new float[n];
      for (int i = 0; i < n; i++) {
        b[i] = draws[i].brightness();
        c[i] = draws[i].contrast();
      }
      NDArray bright = out.mul(m.create(b, new Shape(n, 1, 1, 1)));
      NDArray mean = bright.reshape(n, -1).mean(new int[] {1}, true).reshape(n, 1, 1, 1);
      out = bright.sub(mean).muli(m.create(c, new Shape(n, 1, 1, 1))).addi(mean).clip(0f, 1f);
    }
    return out;
  }

  /** Flips and quarter turns, one group of patches with the same ones at a time, back in bag order. */
  static NDArray geometry(NDArray x, Draw[] draws) {
    List<List<Integer>> groups = new ArrayList<>();
    for (int g = 0; g < 16; g++) {
      groups.add(new ArrayList<>());
    }
    for (int i = 0; i < draws.length; i++) {
      groups.get(draws[i].group()).add(i);
    }
    NDManager m = x.getManager();
    NDList parts = new NDList();
    long[] order = new long[draws.length];
    int at = 0;
    for (int g = 0; g < 16; g++) {
      List<Integer> members = groups.get(g);
      if (members.isEmpty()) {
        continue;
      }
      long[] idx = members.stream().mapToLong(Integer::longValue).toArray();
      NDArray part = members.size() == draws.length ? x : x.get(new NDIndex("{}", m.create(idx)));
      if ((g & 1) != 0) {
        part = part.flip(3);
      }
      if ((g & 2) != 0) {
        part = part.flip(2);
      }
      int k = g >> 2;
      if (k != 0) {
        part = part.rotate90(k, new int[] {2, 3});
      }
      parts.add(part);
      for (long i : idx) {
        order[at++] = i;
      }
    }
    NDArray joined = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
    long[] inverse = new long[order.length];
    for (int j = 0; j < order.length; j++) {
      inverse[(int) order[j]] = j;
    }
    boolean sorted = true;
    for (int j = 0; j < inverse.length; j++) {
      sorted &= inverse[j] == j;
    }
    return sorted ? joined : joined.get(new NDIndex("{}", m.create(inverse)));
  }

  /**
   * HED jitter of {@code x} (N,3,H,W in [0, 1]): stains of patch i scaled by {@code scale[i]} and
   * shifted by {@code shift[i]} (both (N,3,1)). Scale 1 and shift 0 give back {@code max(x, 1e-6)}
   * up to float rounding.
   */
  static NDArray hed(NDArray x, NDArray scale, NDArray shift) {
    NDManager m = x.getManager();
    Shape shape = x.getShape();
    long n = shape.get(0);
    NDArray od = x.maximum(MIN_INTENSITY).log().neg().reshape(n, 3, -1);
    NDArray toHed = m.create(transposed(HED_FROM_RGB));
    NDArray toRgb = m.create(transposed(RGB_FROM_HED));
    NDArray stains = toHed.matMul(od).mul(scale).add(shift);
    return toRgb.matMul(stains).neg().exp().reshape(shape).clip(0f, 1f);
  }

  /** {@code a} transposed, as float (3,3): a matrix that maps column vectors as {@code v @ a} maps rows. */
  private static float[][] transposed(double[][] a) {
    float[][] t = new float[3][3];
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        t[i][j] = (float) a[j][i];
      }
    }
    return t;
  }

  static double[][] inverse(double[][] a) {
    double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    double[][] r = new double[3][3];
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        // cofactor of a[j][i], over the determinant
        int r0 = (j + 1) % 3;
        int r1 = (j + 2) % 3;
        int c0 = (i + 1) % 3;
        int c1 = (i + 2) % 3;
        r[i][j] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
      }
    }
    return r;
  }

  private static long next(long[] s) {
    s[0] += GOLDEN;
    return mix(s[0]);
  }

  /** Uniform in [0, 1) from the top 53 bits. */
  private static double uniform(long[] s) {
    return (next(s) >>> 11) * 0x1.0p-53;
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
