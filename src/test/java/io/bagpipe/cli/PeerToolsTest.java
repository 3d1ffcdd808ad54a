package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The benchmarks find the project's own probes in the checkout they run from, with nothing
 * beside it, and {@code --peers} switches to an outside folder with the other set's file names.
 */
class PeerToolsTest {

  @Test
  void theDefaultProbesAreTheCheckoutsBenchFolderWithEveryRolePresent() throws Exception {
    Path checkout = PeerTools.checkout();
    assertNotNull(checkout, "tests run from target/test-classes and target/classes");
    assertTrue(Files.isRegularFile(checkout.resolve("pom.xml")), checkout + " is the checkout");
    BenchSettings bench = BenchSettings.fromConfig(ConfigOptions.defaults(List.of()).getConfig("bagpipe.bench"));
    PeerTools tools = bench.tools();
    assertEquals(checkout.resolve("bench"), tools.folder());
    assertEquals(List.of("bash", checkout.resolve("bench/loopback_tcp.sh").toString()), tools.loopbackTcp());
    assertEquals(List.of(PeerTools.PYTHON, checkout.resolve("bench/gloo_allreduce.py").toString()), tools.gloo());
    assertTrue(Files.isRegularFile(checkout.resolve("bench/read_limit.c")));
    assertTrue(Files.isRegularFile(checkout.resolve("bench/mil_pipeline.py")));
    assertTrue(Files.isRegularFile(checkout.resolve("bench/make_slides.sh")));
  }

  @Test
  void relativeProbesComeFromTheCheckoutAndAbsoluteOnesStay(@TempDir Path dir) {
    assertEquals(dir.resolve("bench"), BenchSettings.probes("bench", dir));
    assertEquals(Path.of("/opt/probes"), BenchSettings.probes("/opt/probes", dir));
    assertEquals(Path.of("bench"), BenchSettings.probes("bench", null));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BenchSettings.probes(" ", dir));
    assertTrue(e.getMessage().contains("bagpipe.bench.probes"), e.getMessage());
  }

  @Test
  void peersUseTheirOwnFileNamesAndAMissingOneNamesTheOption(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("gloo_allreduce.py"), "");
    Files.writeString(dir.resolve("iperf_loopback.sh"), "");
    BenchSettings bench = new BenchSettings(dir.resolve("bench"), dir, dir.resolve("data"), dir.resolve("out"));
    PeerTools peers = bench.tools(dir.toString());
    assertEquals(List.of("bash", dir.resolve("iperf_loopback.sh").toString()), peers.loopbackTcp());
    assertEquals(dir, bench.tools("").folder(), "--peers alone means bagpipe.bench.peers");
    IOException missing = assertThrows(IOException.class, () -> peers.compile("read_limit"));
    assertTrue(missing.getMessage().contains("read_limit.c") && missing.getMessage().contains("--peers"), missing.getMessage());
    IOException project = assertThrows(IOException.class, () -> bench.tools().gloo());
    assertTrue(project.getMessage().contains("bagpipe.bench.probes"), project.getMessage());
  }

  @Test
  void resultLinesParseIntoFields() {
    Map<String, String> f = PeerTools.parseResult("RESULT read_limit mode=raw threads=2 patches_per_s=310.5");
    assertEquals(Map.of("mode", "raw", "threads", "2", "patches_per_s", "310.5"), f);
    assertEquals(null, PeerTools.parseResult("round 1: C 300 patches/s"));
  }
}
