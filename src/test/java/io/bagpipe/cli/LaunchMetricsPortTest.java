package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Nodes of one launch on one host never share a metrics port. */
class LaunchMetricsPortTest {

  private static final List<String> COMMON = List.of("java", "node");

  @Test
  void aFixedMetricsPortBecomesThePortPlusTheNodeIndex() {
    for (int i = 0; i < 3; i++) {
      List<String> cmd = LaunchCommand.nodeCommand(COMMON, i, 2551 + i, List.of(2551), i == 2, 9464);
      int at = cmd.indexOf("bagpipe.metrics.port=" + (9464 + i));
      assertEquals("--set", cmd.get(at - 1), cmd.toString());
      assertEquals(1, cmd.stream().filter(a -> a.startsWith("bagpipe.metrics.port=")).count(), cmd.toString());
    }
  }

  @Test
  void freePortsAreLeftToEachNode() {
    List<String> cmd = LaunchCommand.nodeCommand(COMMON, 1, 2552, List.of(2551), false, 0);
    assertEquals(0, cmd.stream().filter(a -> a.contains("bagpipe.metrics")).count(), cmd.toString());
  }
}
