package io.bagpipe.worker;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code bagpipe.worker} settings.
 *
 * @param devices one worker per entry: {@code cpu} or {@code gpuN}; {@code auto}
 *     resolves to every GPU, or one {@code cpu} worker without GPUs
 * @param intraOpThreads PyTorch threads per operator (0 = PyTorch's default)
 * @param mean per-channel mean subtracted on the device after scaling to [0, 1]
 * @param std per-channel standard deviation divided by on the device
 */
public record WorkerSettings(List<String> devices, int intraOpThreads, float[] mean, float[] std) {
  public WorkerSettings {
    devices = List.copyOf(devices);
    if (devices.isEmpty()) {
      throw new IllegalArgumentException("bagpipe.worker.devices must name at least one device");
    }
    for (String d : devices) {
      if (!d.equals("cpu") && !d.matches("gpu[0-9]+")) {
        throw new IllegalArgumentException(
            "bagpipe.worker.devices: '" + d + "' is not a device; use cpu, gpu0, gpu1, ... or auto");
      }
    }
    if (intraOpThreads < 0) {
      throw new IllegalArgumentException("bagpipe.worker.intra-op-threads must be >= 0, got " + intraOpThreads);
    }
    if (mean.length != 3 || std.length != 3) {
      throw new IllegalArgumentException("bagpipe.worker.normalize mean and std need three values (R, G, B)");
    }
    for (float s : std) {
      if (!(s > 0)) {
        throw new IllegalArgumentException("bagpipe.worker.normalize.std must be positive, got " + s);
      }
    }
  }

  /**
   * Reads {@code bagpipe.worker}; {@code gpus} is the number of GPUs the engine
   * sees, used to resolve {@code devices = auto}.
   */
  public static WorkerSettings fromConfig(Config c, int gpus) {
    try {
      List<String> devices = new ArrayList<>();
      if (c.getValue("devices").unwrapped() instanceof String s) {
        if (!s.equals("auto")) {
          throw new IllegalArgumentException("bagpipe.worker.devices must be auto or a list like [cpu, cpu], got " + s);
        }
        for (int i = 0; i < gpus; i++) {
          devices.add("gpu" + i);
        }
        if (devices.isEmpty()) {
          devices.add("cpu");
        }
      } else {
        devices.addAll(c.getStringList("devices"));
      }
      return new WorkerSettings(devices, c.getInt("intra-op-threads"),
          floats(c.getDoubleList("normalize.mean")), floats(c.getDoubleList("normalize.std")));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.worker: " + e.getMessage(), e);
    }
  }

  private static float[] floats(List<Double> v) {
    float[] f = new float[v.size()];
    for (int i = 0; i < f.length; i++) {
      f[i] = v.get(i).floatValue();
    }
    return f;
  }
}
