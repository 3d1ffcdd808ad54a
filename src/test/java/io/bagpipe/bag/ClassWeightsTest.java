package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** bagpipe.train.class-weights: none, balanced from the training labels, or a list. */
class ClassWeightsTest {

  static List<SlideEntry> slides(int... labels) {
    List<SlideEntry> out = new ArrayList<>();
    for (int i = 0; i < labels.length; i++) {
      out.add(new SlideEntry("s" + i, labels[i], OptionalInt.empty(), Path.of("s" + i + ".tif"), i + 1, "s" + i,
          Optional.empty()));
    }
    return out;
  }

  static Config train(String value) {
    return ConfigFactory.parseString("class-weights = " + value);
  }

  @Test
  void balancedGivesRareClassesMoreWeight() {
    // 6 slides: four of class 0, two of class 1: 6 / (2 * 4) and 6 / (2 * 2).
    float[] w = ClassWeights.fromConfig(train("balanced"), slides(0, 0, 1, 0, 1, 0), 2);
    assertArrayEquals(new float[] {0.75f, 1.5f}, w);
  }

  @Test
  void noneAndListsAreTakenAsTheyAre() {
    assertNull(ClassWeights.fromConfig(train("none"), slides(0, 1), 2));
    assertArrayEquals(new float[] {1f, 3f}, ClassWeights.fromConfig(train("[1, 3]"), slides(0, 1), 2));
  }

  @Test
  void badValuesNameTheKey() {
    for (String bad : new String[] {"[1]", "[1, 0]", "weighted", "[1, x]"}) {
      ConfigException e = assertThrows(ConfigException.class,
          () -> ClassWeights.fromConfig(train(bad), slides(0, 1), 2), bad);
      assertTrue(e.getMessage().contains("bagpipe.train.class-weights"), e.getMessage());
    }
    ConfigException e = assertThrows(ConfigException.class,
        () -> ClassWeights.fromConfig(train("balanced"), slides(0, 0), 2));
    assertTrue(e.getMessage().contains("no training slide has class 1"), e.getMessage());
  }
}
