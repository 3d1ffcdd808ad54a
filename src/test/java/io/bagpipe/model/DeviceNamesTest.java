package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import org.junit.jupiter.api.Test;

class DeviceNamesTest {

  @Test
  void cpuAndNumberedGpusAreDjlDevices() {
    assertEquals(Device.cpu(), DeviceNames.of("cpu"));
    assertEquals(Device.gpu(0), DeviceNames.of("gpu0"));
    assertEquals(Device.gpu(12), DeviceNames.of("gpu12"));
  }

  @Test
  void anythingElseIsRefusedNamingWhatCame() {
    for (String bad : new String[] {"gpu", "GPU0", "cuda:0", "gpu-1", "", "cpu0"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceNames.of(bad));
      assertTrue(e.getMessage().contains("'" + bad + "'") && e.getMessage().contains("gpuN"), e.getMessage());
    }
    assertThrows(IllegalArgumentException.class, () -> DeviceNames.of(null));
  }
}
