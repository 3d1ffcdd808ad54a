package io.bagpipe.allreduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class AllReduceSettingsTest {

  static Config reference() {
    return ConfigFactory.defaultReference().getConfig("bagpipe.allreduce");
  }

  @Test
  void referenceDefaultsAreValid() {
    AllReduceSettings s = AllReduceSettings.fromConfig(reference());
    assertEquals(0, s.port());
    assertEquals(1 << 20, s.chunkBytes());
    assertEquals(1 << 18, s.chunkFloats());
    assertEquals(Duration.ofSeconds(60), s.timeout());
    assertTrue(s.window() >= 1);
    assertEquals(64 << 10, s.directBelowBytes());
    assertTrue(s.direct(16383));
    assertFalse(s.direct(16384));
  }

  @ParameterizedTest
  @CsvSource(delimiter = ';', value = {
      "chunk-bytes = 6; chunk-bytes",
      "window = 0; window",
      "timeout = 0 s; timeout",
      "port = 70000; port",
      "host = \"\"; host",
      "socket-buffer-bytes = -1; socket-buffer-bytes",
      "transport = udp; transport",
      "shared-memory-dir = [1]; shared-memory-dir",
      "direct-below-bytes = -1; direct-below-bytes",
      "direct-below-bytes = 2 MiB; direct-below-bytes"})
  void badValuesNameTheirKey(String line, String key) {
    Config c = ConfigFactory.parseString(line).withFallback(reference());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AllReduceSettings.fromConfig(c));
    assertTrue(e.getMessage().contains("bagpipe.allreduce." + key), e.getMessage());
  }
}
