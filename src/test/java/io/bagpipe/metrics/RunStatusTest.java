package io.bagpipe.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.loader.LoaderMeter;
import io.bagpipe.worker.WorkerMeter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The status view of a node whose metrics say where the run stands, with faults in its run directory. */
class RunStatusTest {

  @TempDir Path runDir;

  @Test
  void showsPhaseEtaRingAndTheNewestFaults() throws Exception {
    NodeMetrics m = new NodeMetrics("r7", "10.0.0.5:2551");
    m.watch("worker-0", "cpu", new WorkerMeter());
    m.watch(new LoaderMeter());
    m.runStarted(4, 3, 0);
    m.epochStarted(1, 3, 10, 0);
    m.stepCommitted(1, 5, 10, 0.5, 2.0, 20); // 4 bags per step at 2 bags/s: 2 s per step
    m.ringReformed(3, 3);
    m.workerLost();
    m.slideQuarantined();
    StringBuilder faults = new StringBuilder();
    for (int i = 1; i <= 4; i++) {
      faults.append("{\"kind\":\"lost\",\"detected_ms\":1,\"ring_formed_ms\":2,\"committed_ms\":3,\"generation\":")
          .append(i + 1).append(",\"workers\":3,\"epoch\":1,\"step\":").append(i)
          .append(",\"node\":\"a:1\",\"detail\":\"rank 2 \\\"gone\\\" #").append(i).append("\"}\n");
    }
    Files.writeString(runDir.resolve("faults.jsonl"), faults);
    try (MetricsEndpoint e = MetricsEndpoint.start(new MetricsSettings(true, "127.0.0.1", 0, ""), m, runDir, null)) {
      RunStatus.View v = new RunStatus(runDir, Duration.ofSeconds(5)).refresh();
      String t = v.text();
      assertEquals(1, v.answering(), t);
      assertTrue(t.contains("run r7: training, 1 of 1 node(s) answering"), t);
      assertTrue(t.contains("epoch 2/3  step 5/10  loss 0.5000  2.00 bags/s"), t);
      // 5 steps left in this epoch and 10 in the last, 2 s each
      assertTrue(t.contains("ETA: epoch 10 s, run 30 s"), t);
      assertTrue(t.contains("ring generation 3, 3 workers; workers joined 0, lost 1; bags skipped 0;"
          + " slides quarantined 1"), t);
      assertTrue(t.contains("node 10.0.0.5:2551 (metrics 127.0.0.1:" + e.port() + "): workers 1"), t);
      assertTrue(t.contains("recent faults (4 in faults.jsonl):\n  epoch 1 step 2  lost: rank 2 \"gone\" #2\n"), t);
      assertTrue(t.contains("#4") && !t.contains("#1"), t);

      m.validationStarted(1, 12);
      assertTrue(new RunStatus(runDir, Duration.ofSeconds(5)).refresh().text()
          .contains("run r7: validating epoch 2 (12 bags)"));
      m.runEnded();
      assertTrue(new RunStatus(runDir, Duration.ofSeconds(5)).refresh().text().contains("run r7: ended"));
    }
    assertEquals(0, new RunStatus(runDir, Duration.ofSeconds(5)).targets().size(), "closing removes the target file");
  }
}
