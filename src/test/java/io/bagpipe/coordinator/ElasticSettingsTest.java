package io.bagpipe.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** bagpipe.elastic: the defaults load, a bad value names its key, deadlines follow the recent steps. */
class ElasticSettingsTest {

  static Config elastic(String override) {
    return ConfigFactory.parseString(override).withFallback(ConfigFactory.load()).getConfig("bagpipe.elastic");
  }

  @Test
  void deadlinesAreAMultipleOfTheSlowestStepWithinFloorAndCap() {
    ElasticSettings e = ElasticSettings.fromConfig(elastic(""));
    assertEquals(1, e.minWorkers());
    assertEquals(e.deadlineCap(), e.deadline(0), "nothing measured yet: the cap");
    assertEquals(e.deadlineFloor(), e.deadline(Duration.ofMillis(100).toNanos()), "fast steps: the floor");
    assertEquals(Duration.ofSeconds(5), e.deadline(Duration.ofSeconds(1).toNanos()), "5 x the slowest step");
    assertEquals(e.deadlineCap(), e.deadline(Duration.ofHours(1).toNanos()), "never past the cap");
  }

  @ParameterizedTest
  @CsvSource(delimiter = ';', value = {
      "min-workers = 0; min-workers",
      "deadline-floor = 0 s; deadline-floor",
      "deadline-factor = 0.5; deadline-factor",
      "deadline-cap = 1 s; deadline-cap",
      "first-step-deadline = 1 h; first-step-deadline",
      "rejoin-timeout = -1 s; rejoin-timeout",
      "deadline-floor = soon; deadline-floor"})
  void aBadValueNamesItsKey(String setting, String key) {
    var e = assertThrows(IllegalArgumentException.class,
        () -> ElasticSettings.fromConfig(elastic("bagpipe.elastic." + setting)));
    assertTrue(e.getMessage().contains(key), e.getMessage());
  }
}
