package io.bagpipe.model;

import ai.djl.Device;

/**
 * Bagpipe's device names as DJL devices: {@code cpu}, or {@code gpuN} for GPU N
 * ({@code bagpipe.worker.devices}, {@code predict}'s and {@code features}' device).
 */
public final class DeviceNames {

  private DeviceNames() {}

  /** The DJL device {@code name} stands for; anything but {@code cpu} or {@code gpuN} is refused, named. */
  public static Device of(String name) {
    if ("cpu".equals(name)) {
      return Device.cpu();
    }
    if (name != null && name.matches("gpu[0-9]{1,4}")) {
      return Device.gpu(Integer.parseInt(name.substring(3)));
    }
    throw new IllegalArgumentException("a device is cpu or gpuN (gpu0, gpu1, ...), got '" + name + "'");
  }
}
