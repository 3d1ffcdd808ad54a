package io.bagpipe.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.bagpipe.loader.LoaderMeter;
import io.bagpipe.worker.WorkerMeter;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ScrapeTest {

  @Test
  void parsesSamplesWithLabelsEscapesAndSpecialValues() {
    Scrape s = Scrape.parse("""
        # HELP x_total a counter
        # TYPE x_total counter
        x_total{node="a:1",run="r \\"q\\" \\\\ b"} 3.0
        y NaN
        z{le="+Inf"} +Inf 1700000000000

        w{a="1",} -2.5e-3
        """);
    assertEquals(4, s.samples().size());
    assertEquals(Map.of("node", "a:1", "run", "r \"q\" \\ b"), s.samples().getFirst().labels());
    assertEquals(3.0, s.value("x_total", "node", "a:1").orElseThrow());
    assertTrue(s.value("x_total", "node", "b").isEmpty());
    assertTrue(Double.isNaN(s.value("y").orElseThrow()));
    assertEquals(Double.POSITIVE_INFINITY, s.value("z", "le", "+Inf").orElseThrow());
    assertEquals(-2.5e-3, s.sum("w"));
  }

  @Test
  void aLineThatIsNoSampleIsNamedByItsNumber() {
    var e = assertThrows(IllegalArgumentException.class, () -> Scrape.parse("a 1\n# c\nb{x=1} 2\n"));
    assertTrue(e.getMessage().startsWith("metrics line 3 "), e.getMessage());
  }

  @Test
  void theRegistryServesEventsAndMetersInTheTextFormat() throws Exception {
    NodeMetrics m = new NodeMetrics("r1", "n1");
    WorkerMeter worker = new WorkerMeter();
    m.watch("worker-0", "cpu", worker);
    m.watch(new LoaderMeter());
    m.runStarted(2, 5, 0);
    m.epochStarted(0, 5, 10, 0);
    m.stepCommitted(0, 1, 10, 0.7, 3.5, 2);
    m.stepCommitted(0, 3, 10, 0.6, 4.0, 6); // two steps in one event: two observations (and one for the first)
    m.ringReformed(2, 3); // one more rank than before: one joined
    m.workerLost();
    m.validationStarted(0, 7);
    try (MetricsEndpoint e = MetricsEndpoint.start(new MetricsSettings(true, "127.0.0.1", 0, ""), m,
        java.nio.file.Files.createTempDirectory("metrics"), null)) {
      Scrape s = Scrape.fetch(java.net.URI.create(e.url()), java.time.Duration.ofSeconds(5));
      assertEquals(3, s.value("bagpipe_steps_total", "run", "r1", "node", "n1").orElseThrow());
      assertEquals(3, s.value("bagpipe_step_seconds_count").orElseThrow());
      assertEquals(0.6, s.value("bagpipe_train_loss").orElseThrow());
      assertEquals(4.0, s.value("bagpipe_bags_per_second").orElseThrow());
      assertEquals(3, s.value("bagpipe_epoch_step").orElseThrow());
      assertEquals(2, s.value("bagpipe_ring_generation").orElseThrow());
      assertEquals(1, s.value("bagpipe_workers_joined_total").orElseThrow());
      assertEquals(1, s.value("bagpipe_workers_lost_total").orElseThrow());
      assertEquals(0, s.value("bagpipe_worker_stage_seconds_total", "worker", "worker-0", "stage", "forward")
          .orElseThrow());
      assertEquals(-1, s.value("bagpipe_worker_rank", "worker", "worker-0", "device", "cpu").orElseThrow());
      assertEquals(0, s.value("bagpipe_worker_refused_orders_total", "worker", "worker-0", "device", "cpu")
          .orElseThrow());
      assertEquals(0, s.value("bagpipe_loader_bags_in_flight").orElseThrow());
      assertEquals(7, s.value("bagpipe_validation_bags").orElseThrow());
    }
  }

  @Test
  void settingsNameTheKey() {
    var bad = ConfigFactory.parseString("enabled = true, bind = \"127.0.0.1\", port = 70000, run-id = \"\"");
    var e = assertThrows(IllegalArgumentException.class, () -> MetricsSettings.fromConfig(bad));
    assertTrue(e.getMessage().contains("bagpipe.metrics.port"), e.getMessage());
    var missing = ConfigFactory.parseString("enabled = true, port = 0, run-id = \"\"");
    e = assertThrows(IllegalArgumentException.class, () -> MetricsSettings.fromConfig(missing));
    assertTrue(e.getMessage().contains("bagpipe.metrics") && e.getMessage().contains("bind"), e.getMessage());
    MetricsSettings ok = MetricsSettings.fromConfig(ConfigFactory.load().getConfig("bagpipe.metrics"));
    assertEquals(0, ok.port());
    assertTrue(ok.enabled());
  }
}
