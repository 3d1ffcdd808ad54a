package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

class TargetMppSettingsTest {

  private static Config plan(String extra) {
    return ConfigFactory.parseString(extra).withFallback(ConfigFactory.defaultReference()).resolve()
        .getConfig("bagpipe.plan");
  }

  @Test
  void targetMppIsOffByDefaultAndReadWhenSet() {
    assertEquals(0.0, PlanSettings.fromConfig(plan("")).targetMpp());
    assertEquals(0.5, PlanSettings.fromConfig(plan("bagpipe.plan.target-mpp = 0.5")).targetMpp());
  }

  @Test
  void aBadTargetMppNamesTheKey() {
    for (String bad : new String[] {"bagpipe.plan.target-mpp = fast", "bagpipe.plan.target-mpp = -1",
        "bagpipe.plan { target-mpp = 0.5, level = 1 }"}) {
      var e = assertThrows(ConfigException.BadValue.class, () -> PlanSettings.fromConfig(plan(bad)), bad);
      assertTrue(e.getMessage().contains("bagpipe.plan.target-mpp"), e.getMessage());
    }
  }
}
