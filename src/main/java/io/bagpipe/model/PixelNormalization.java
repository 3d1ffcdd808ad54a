package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;

/**
 * How decoded patches become a model's input, the same way in training, prediction and feature
 * extraction: packed RGB uint8 (NHWC) is uploaded as it is (a quarter of the bytes of float), its
 * three channel planes are gathered into NCHW (a uint8 copy), and each channel is scaled and
 * shifted on the device, {@code x' = (x / 255 - mean) / std}, as one multiply by {@code 1 / (255 std)}
 * and one add of {@code -mean / std}. Gathering the planes first lets the per-channel constants
 * broadcast over contiguous planes and vectorise: a third of the cost of normalising interleaved RGB.
 *
 * <p>The constants live on the manager given at construction and go when it closes; each
 * replica, predictor or encoder thread builds its own, on its own device.
 */
public final class PixelNormalization {

  /** 1 / (255 std) per channel, shaped (1,3,1,1). */
  private final NDArray scale;
  /** 1 / std per channel, shaped (1,3,1,1): for values already in [0, 1]. */
  private final NDArray unitScale;
  /** -mean / std per channel, shaped (1,3,1,1). */
  private final NDArray shift;

  /**
   * The normalisation by {@code mean} and {@code std} (per channel R, G, B, of pixel / 255), its
   * constants on {@code manager}'s device.
   *
   * @throws IllegalArgumentException when either does not hold three values or a std is not positive
   */
  public PixelNormalization(NDManager manager, float[] mean, float[] std) {
    if (mean.length != 3 || std.length != 3) {
      throw new IllegalArgumentException("normalisation mean and std need three values (R, G, B), got "
          + mean.length + " and " + std.length);
    }
    float[] sc = new float[3];
    float[] unit = new float[3];
    float[] sh = new float[3];
    for (int c = 0; c < 3; c++) {
      if (!(std[c] > 0)) {
        throw new IllegalArgumentException("normalisation std must be positive, got " + std[c]);
      }
      sc[c] = 1f / (255f * std[c]);
      unit[c] = 1f / std[c];
      sh[c] = -mean[c] / std[c];
    }
    this.scale = manager.create(sc).reshape(1, 3, 1, 1);
    this.unitScale = manager.create(unit).reshape(1, 3, 1, 1);
    this.shift = manager.create(sh).reshape(1, 3, 1, 1);
  }

  /**
   * {@code n} patches of side {@code p} from {@code pixels} (packed RGB uint8, {@code 3 p p} bytes
   * each, from its position), normalised: float32 NCHW in {@code scope}.
   */
  public NDArray upload(NDManager scope, ByteBuffer pixels, int n, int p) {
    return planes(scope, pixels, n, p).toType(DataType.FLOAT32, false).muli(scale).addi(shift);
  }

  /** As {@link #upload}, scaled to [0, 1] only (for changes such as augmentation before {@link #fromUnit}). */
  public static NDArray unit(NDManager scope, ByteBuffer pixels, int n, int p) {
    return planes(scope, pixels, n, p).toType(DataType.FLOAT32, false).divi(255f);
  }

  /** Normalises NCHW values in [0, 1] (as {@link #unit} gives): a new array, {@code unit} is left alone. */
  public NDArray fromUnit(NDArray unit) {
    return unit.mul(unitScale).addi(shift);
  }

  /** The patches' channel planes, uint8 NCHW. */
  private static NDArray planes(NDManager scope, ByteBuffer pixels, int n, int p) {
    NDArray u8 = scope.create(pixels, new Shape(n, p, p, 3), DataType.UINT8);
    return NDArrays.stack(new NDList(u8.get(":,:,:,0"), u8.get(":,:,:,1"), u8.get(":,:,:,2")), 1);
  }
}
