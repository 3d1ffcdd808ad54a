package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import io.bagpipe.slide.SlideSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigOptionsTest {

  @TempDir Path dir;

  Path conf(String text) throws IOException {
    return Files.writeString(dir.resolve("my.conf"), text);
  }

  @Test
  void defaultsComeFromReferenceConf() {
    Config c = ConfigOptions.defaults(List.of());
    SlideSettings s = SlideSettings.fromConfig(c.getConfig("bagpipe.slide"));
    assertEquals(255, s.background().r());
    assertTrue(s.maxOpenSlides() > 0);
  }

  @Test
  void theDataChannelFollowsTheNodesClusterAddressUnlessSetApart() throws IOException {
    // `bagpipe node --host 10.0.0.5` must not leave the gradient port on loopback
    Config node = ConfigOptions.load(null, List.of("bagpipe.cluster.host=10.0.0.5"));
    assertEquals("10.0.0.5", io.bagpipe.allreduce.AllReduceSettings.fromConfig(node.getConfig("bagpipe.allreduce")).host());
    Path f = conf("bagpipe.cluster.host = 10.0.0.5\nbagpipe.allreduce.host = 192.168.7.5\n");
    Config apart = ConfigOptions.load(f, List.of());
    assertEquals("192.168.7.5", io.bagpipe.allreduce.AllReduceSettings.fromConfig(apart.getConfig("bagpipe.allreduce")).host());
  }

  @Test
  void userFileAndSetOverridesWinInThatOrder() throws IOException {
    Path f = conf("bagpipe.slide.max-open-slides = 7\nbagpipe.plan.bag-size = 16\n");
    Config c = ConfigOptions.load(f, List.of("bagpipe.plan.bag-size=all", "bagpipe.data.dir=/data/my slides"));
    assertEquals(7, c.getInt("bagpipe.slide.max-open-slides"));
    assertEquals("all", c.getString("bagpipe.plan.bag-size"));
    assertEquals("/data/my slides", c.getString("bagpipe.data.dir"));
  }

  @Test
  void unknownKeyInTheFileNamesTheKeyTheFileAndTheLine() throws IOException {
    Path f = conf("bagpipe {\n  slide {\n    max-open-slide = 3\n  }\n}\n");
    var e = assertThrows(ConfigOptions.BadConfigException.class, () -> ConfigOptions.load(f, List.of()));
    assertTrue(e.getMessage().contains("bagpipe.slide.max-open-slide"), e.getMessage());
    assertTrue(e.getMessage().contains("my.conf"), e.getMessage());
    assertTrue(e.getMessage().contains(": 3"), "line 3: " + e.getMessage());
  }

  @Test
  void unknownKeyFromSetIsRejected() {
    var e = assertThrows(
        ConfigOptions.BadConfigException.class, () -> ConfigOptions.defaults(List.of("bagpipe.plan.bagsize=3")));
    assertTrue(e.getMessage().contains("bagpipe.plan.bagsize"), e.getMessage());
  }

  @Test
  void wrongTypeNamesTheKey() throws IOException {
    Path f = conf("bagpipe.slide.max-open-slides = many\n");
    Config c = ConfigOptions.load(f, List.of());
    var e = assertThrows(IllegalArgumentException.class, () -> SlideSettings.fromConfig(c.getConfig("bagpipe.slide")));
    assertTrue(e.getMessage().contains("max-open-slides"), e.getMessage());
    assertTrue(Main.commandLine().execute("bench", "read", "--config", f.toString(), "--data", dir.toString()) != 0);
  }

  @Test
  void missingFileAndMalformedSetAreClear() throws IOException {
    var missing = assertThrows(
        ConfigOptions.BadConfigException.class, () -> ConfigOptions.load(dir.resolve("nope.conf"), List.of()));
    assertTrue(missing.getMessage().contains("nope.conf"), missing.getMessage());
    var malformed = assertThrows(
        ConfigOptions.BadConfigException.class, () -> ConfigOptions.defaults(List.of("bagpipe.plan.seed")));
    assertTrue(malformed.getMessage().contains("KEY=VALUE"), malformed.getMessage());
    Path broken = conf("bagpipe { slide { \n");
    var parse = assertThrows(ConfigOptions.BadConfigException.class, () -> ConfigOptions.load(broken, List.of()));
    assertTrue(parse.getMessage().contains("my.conf"), parse.getMessage());
  }

  @Test
  void keysOutsideBagpipeAreLeftToTheirOwners() throws IOException {
    Path f = conf("pekko.loglevel = INFO\n");
    assertEquals("INFO", ConfigOptions.load(f, List.of()).getString("pekko.loglevel"));
  }

  @Test
  void theCommandLineExitsTwoOnABadKey() {
    int code = Main.commandLine().execute("bench", "read", "--set", "bagpipe.nope=1");
    assertEquals(2, code);
  }
}
