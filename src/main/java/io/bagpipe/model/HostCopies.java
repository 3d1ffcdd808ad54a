package io.bagpipe.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Bulk copies between a float32 tensor on any device and a Java {@code float[]}: how flat
 * parameters, gradients and BatchNorm statistics leave and enter the model.
 *
 * <p>A CPU tensor is copied through a direct view of its native memory, one pass and no
 * temporary (the fast path). A tensor elsewhere (a GPU) is staged through host memory:
 * reading copies it to a CPU tensor first; writing builds a CPU tensor from the values, moves
 * it to the device and copies it into the target in place, so the target keeps its identity
 * (a parameter stays the optimizer's leaf, a gradient stays the parameter's {@code .grad}).
 * DJL's own {@code toByteBuffer} would silently hand out a host copy of a device tensor, and
 * writes into it would be lost; this class never writes through such a copy.
 *
 * <p>{@link #stageAlways} makes CPU tensors take the staged path too, so tests on a machine
 * without a GPU run the code a GPU replica runs and compare it with the fast path.
 */
public final class HostCopies {

  private static volatile boolean stageAlways;

  private HostCopies() {}

  /** Whether CPU tensors are staged as device tensors are (tests); false in normal runs. */
  static void stageAlways(boolean on) {
    stageAlways = on;
  }

  /** Whether {@code array}'s memory is read and written in place (CPU float32, no forced staging). */
  public static boolean direct(NDArray array) {
    return !stageAlways && array.getDevice().equals(Device.cpu()) && array.getDataType() == DataType.FLOAT32;
  }

  /** Copies all of {@code array} into {@code dst[from ..]}; {@code array} stays as it is. */
  public static void read(NDArray array, float[] dst, int from) {
    int n = Math.toIntExact(array.size());
    if (direct(array)) {
      view(array).get(dst, from, n);
      return;
    }
    try (NDArray host = array.toDevice(Device.cpu(), true)) {
      if (host.getDataType() == DataType.FLOAT32) {
        view(host).get(dst, from, n);
      } else {
        try (NDArray f32 = host.toType(DataType.FLOAT32, false)) {
          view(f32).get(dst, from, n);
        }
      }
    }
  }

  /** Overwrites {@code array} in place with {@code src[from .. from + array.size())}. */
  public static void write(NDArray array, float[] src, int from) {
    int n = Math.toIntExact(array.size());
    if (from < 0 || from + n > src.length) {
      throw new IllegalArgumentException("need " + n + " values from " + from + ", have " + src.length);
    }
    if (direct(array)) {
      view(array).put(src, from, n);
      return;
    }
    float[] part = from == 0 && n == src.length ? src : java.util.Arrays.copyOfRange(src, from, from + n);
    boolean gradMode = JniUtils.isGradMode();
    JniUtils.setGradMode(false); // an in-place copy into a leaf that requires gradients
    try (NDManager host = NDManager.newBaseManager(Device.cpu())) {
      NDArray values = host.create(part, array.getShape());
      NDArray typed = array.getDataType() == DataType.FLOAT32 ? values : values.toType(array.getDataType(), false);
      array.set(new NDIndex(":"), typed); // moves the values to the array's device, then copies in place
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }

  private static FloatBuffer view(NDArray cpuFloat32) {
    return cpuFloat32.toByteBuffer(true).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }
}
