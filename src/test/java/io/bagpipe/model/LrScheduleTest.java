package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

/** The learning rate as a function of the global step, and its configuration errors. */
class LrScheduleTest {

  static Config optimizer(String... overrides) {
    Config c = ConfigFactory.parseString(String.join("\n", overrides));
    return c.withFallback(ConfigFactory.defaultReference().getConfig("bagpipe.optimizer")).resolve();
  }

  @Test
  void constantIsTheBaseRateAndWarmUpRisesLinearly() {
    LrSchedule s = LrSchedule.fromConfig(optimizer("lr = 0.1", "warmup-steps = 4"), 10, 3);
    assertEquals(0.025, s.lr(0.1, 0), 1e-12);
    assertEquals(0.05, s.lr(0.1, 1), 1e-12);
    assertEquals(0.1, s.lr(0.1, 3), 1e-12);
    assertEquals(0.1, s.lr(0.1, 29), 1e-12);
    assertEquals(0.1, LrSchedule.constant().lr(0.1, 12345), 0);
  }

  @Test
  void cosineRunsFromLrToMinLrOverTheEpochsAfterWarmUp() {
    // 10 steps per epoch, 5 epochs: 50 steps, warm-up 1 epoch = 10 steps, cosine over the other 40.
    LrSchedule s = LrSchedule.fromConfig(optimizer("lr = 1", "schedule = cosine", "warmup-epochs = 1",
        "min-lr = 0.1"), 10, 5);
    assertEquals(10, s.warmupSteps());
    assertEquals(0.1, s.lr(1, 0), 1e-12);
    assertEquals(1.0, s.lr(1, 10), 1e-12);
    assertEquals(0.1 + 0.9 * 0.5, s.lr(1, 30), 1e-12); // half way: cos(pi/2) = 0
    assertEquals(0.1, s.lr(1, 50), 1e-12);
    assertEquals(0.1, s.lr(1, 500), 1e-12);
    for (long step = 11; step < 50; step++) {
      assertTrue(s.lr(1, step) < s.lr(1, step - 1), "decreasing at " + step);
    }
  }

  @Test
  void stepDecayMultipliesByGammaEveryStepEpochs() {
    LrSchedule s = LrSchedule.fromConfig(optimizer("lr = 0.5", "schedule = step", "step-epochs = 2", "gamma = 0.5"),
        3, 10);
    assertEquals(6, s.stepSize());
    assertEquals(0.5, s.lr(0.5, 5), 1e-12);
    assertEquals(0.25, s.lr(0.5, 6), 1e-12);
    assertEquals(0.125, s.lr(0.5, 12), 1e-12);
  }

  @Test
  void theRateDependsOnlyOnTheStep() {
    LrSchedule a = LrSchedule.fromConfig(optimizer("schedule = cosine", "warmup-steps = 3"), 7, 4);
    LrSchedule b = LrSchedule.fromConfig(optimizer("schedule = cosine", "warmup-steps = 3"), 7, 4);
    for (long step = 0; step < 40; step++) {
      assertEquals(a.lr(0.01, step), b.lr(0.01, step), 0);
    }
  }

  @Test
  void badKeysAreNamed() {
    assertKey("bagpipe.optimizer.schedule", optimizer("schedule = linear"));
    assertKey("bagpipe.optimizer.gamma", optimizer("gamma = 0"));
    assertKey("bagpipe.optimizer.min-lr", optimizer("lr = 0.01", "min-lr = 0.1"));
    assertKey("bagpipe.optimizer.warmup-epochs", optimizer("warmup-steps = 2", "warmup-epochs = 1"));
    assertKey("bagpipe.optimizer.warmup-steps", optimizer("schedule = cosine", "warmup-steps = 100"));
    assertKey("bagpipe.optimizer.step-epochs", optimizer("step-epochs = 0"));
  }

  private static void assertKey(String key, Config c) {
    ConfigException e = assertThrows(ConfigException.class, () -> LrSchedule.fromConfig(c, 10, 5));
    assertTrue(e.getMessage().contains(key), e.getMessage());
  }
}
