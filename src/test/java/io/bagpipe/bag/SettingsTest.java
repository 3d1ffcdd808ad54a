package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SettingsTest {

  static Config config(String overrides) {
    return ConfigFactory.parseString(overrides)
        .withFallback(ConfigFactory.parseResources(SettingsTest.class.getClassLoader(), "reference.conf"))
        .resolve();
  }

  @Test
  void referenceDefaults() {
    Config c = config("");
    assertEquals(new PlanSettings(0, 8, new BagSize.Fixed(32), 224, 0, 1), PlanSettings.fromConfig(c.getConfig("bagpipe.plan")));
    assertEquals(new FoldSettings(5, 0, new FoldSplit(List.of(1, 2, 3, 4), List.of(5))),
        FoldSettings.fromConfig(c.getConfig("bagpipe.plan.folds")));
  }

  @Test
  void bagSizeAll() {
    PlanSettings s = PlanSettings.fromConfig(config("bagpipe.plan.bag-size = all").getConfig("bagpipe.plan"));
    assertEquals(new BagSize.All(), s.bagSize());
    assertEquals(new BagSize.All(),
        PlanSettings.fromConfig(config("bagpipe.plan.bag-size = \"ALL\"").getConfig("bagpipe.plan")).bagSize());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "bagpipe.plan.bag-size = -3|bagpipe.plan.bag-size|must be a positive integer or \"all\", got -3",
        "bagpipe.plan.bag-size = some|bagpipe.plan.bag-size|got \"some\"",
        "bagpipe.plan.bag-size = 2.5|bagpipe.plan.bag-size|got 2.5",
        "bagpipe.plan.bag-num = 0|bagpipe.plan.bag-num|>= 1, got 0",
        "bagpipe.plan.patch-size = x|bagpipe.plan.patch-size|got \"x\"",
        "bagpipe.plan.level = -1|bagpipe.plan.level|>= 0, got -1",
        "bagpipe.plan.bags-per-step = 0|bagpipe.plan.bags-per-step|got 0",
        "bagpipe.plan.folds.k = 0|bagpipe.plan.folds.k|got 0",
        "bagpipe.plan.folds.train = \"1235\"|bagpipe.plan.folds.val|also in",
        "bagpipe.plan.folds.val = \"6\"|bagpipe.plan.folds.val|outside 1..5",
        "bagpipe.plan.folds.k = 3|bagpipe.plan.folds.train|fold 4",
      })
  void badValuesNameTheirKey(String override, String key, String detail) {
    Config c = config(override);
    ConfigException e = assertThrows(ConfigException.class, () -> {
      PlanSettings.fromConfig(c.getConfig("bagpipe.plan"));
      FoldSettings.fromConfig(c.getConfig("bagpipe.plan.folds"));
    });
    assertTrue(e.getMessage().contains(key), e.getMessage());
    assertTrue(e.getMessage().contains(detail), e.getMessage());
  }

  @TempDir Path dir;

  @Test
  void dataPathsResolveAgainstDirAndFallBackToSvs() throws IOException {
    String base = "bagpipe.data.dir = \"" + dir + "\"\n";
    DataSettings d = DataSettings.fromConfig(config(base).getConfig("bagpipe.data"));
    assertEquals(dir.resolve("manifest.csv"), d.manifest());
    assertEquals(dir.resolve("slides"), d.slides());
    assertEquals(dir.resolve("coords"), d.coords());
    assertEquals("tif", d.slideExtensions().getFirst());

    Files.createDirectories(dir.resolve("svs"));
    assertEquals(dir.resolve("svs"), DataSettings.fromConfig(config(base).getConfig("bagpipe.data")).slides());
    Files.createDirectories(dir.resolve("slides"));
    assertEquals(dir.resolve("slides"), DataSettings.fromConfig(config(base).getConfig("bagpipe.data")).slides());

    DataSettings abs = DataSettings.fromConfig(
        config(base + "bagpipe.data.coords = \"/elsewhere/c\"").getConfig("bagpipe.data"));
    assertEquals(Path.of("/elsewhere/c"), abs.coords());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "bagpipe.data.slide-extensions = []|bagpipe.data.slide-extensions",
      "bagpipe.data.slide-extensions = [\".svs\"]|bagpipe.data.slide-extensions",
      "bagpipe.data.manifest = \"\"|bagpipe.data.manifest"})
  void badDataValuesNameTheirKey(String override, String key) {
    Config c = config(override);
    ConfigException e = assertThrows(ConfigException.class, () -> DataSettings.fromConfig(c.getConfig("bagpipe.data")));
    assertTrue(e.getMessage().contains(key), e.getMessage());
  }
}
