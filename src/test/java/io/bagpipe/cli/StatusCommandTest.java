package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.api.Bagpipe;
import io.bagpipe.api.BagpipeRun;
import io.bagpipe.metrics.MetricsEndpoint;
import io.bagpipe.metrics.RunStatus;
import io.bagpipe.metrics.Scrape;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import picocli.CommandLine;

/**
 * A real run on two cpu workers serves its Prometheus endpoint: it is scraped twice while
 * steps are committed, and {@code bagpipe status} shows the run from its run directory.
 */
class StatusCommandTest {

  @RegisterExtension static final TrainingFixtures.Shared DATA = new TrainingFixtures.Shared(8);

  @Test
  void theEndpointIsScrapedWhileStepsAreCommittedAndStatusShowsTheRun() throws Exception {
    Path runDir = DATA.dir().resolve("run");
    // Many short epochs: the run is still training when the scrapes come; it is stopped after them.
    BagpipeRun run = Bagpipe.start(DATA.twoCpuWorkers(runDir, "bagpipe.train.epochs=200", "bagpipe.plan.bag-num=4"));
    Path targets = runDir.resolve(MetricsEndpoint.TARGETS);
    try {
      URI url = URI.create("http://" + awaitTarget(runDir) + "/metrics");
      Scrape first = await(url, s -> s.sum("bagpipe_steps_total") >= 1);
      // (and a step of the current epoch committed: a new epoch starts with no loss and no pace)
      Scrape second = await(url, s -> s.sum("bagpipe_steps_total") >= first.sum("bagpipe_steps_total") + 3
          && s.sum("bagpipe_epoch_step") >= 1);

      assertTrue(second.sum("bagpipe_steps_total") > first.sum("bagpipe_steps_total"));
      assertTrue(second.value("bagpipe_bags_per_second").orElseThrow() > 0);
      double loss = second.value("bagpipe_train_loss").orElseThrow();
      assertTrue(Double.isFinite(loss) && loss > 0, "loss " + loss);
      assertTrue(second.sum("bagpipe_step_seconds_count") >= 1);
      assertTrue(second.sum("bagpipe_step_seconds_sum") > 0);
      assertEquals(200, second.value("bagpipe_epochs").orElseThrow());
      assertEquals(1, second.value("bagpipe_ring_generation").orElseThrow());
      assertEquals(2, second.value("bagpipe_ring_workers").orElseThrow());
      assertEquals(2, second.value("bagpipe_workers_joined_total").orElseThrow());
      assertEquals(0, second.value("bagpipe_workers_lost_total").orElseThrow());
      assertEquals(0, second.value("bagpipe_slides_quarantined_total").orElseThrow());
      assertEquals(1, second.value("bagpipe_run_running").orElseThrow());
      for (String worker : List.of("worker-0", "worker-1")) {
        for (String stage : List.of("decode_wait", "upload", "forward", "backward", "all_reduce", "optimizer")) {
          assertTrue(second.value("bagpipe_worker_stage_seconds_total", "worker", worker, "stage", stage).isPresent(),
              worker + " " + stage);
        }
        assertTrue(second.value("bagpipe_worker_stage_seconds_total", "worker", worker, "stage", "forward")
            .orElseThrow() > 0);
        assertTrue(second.value("bagpipe_worker_steps_total", "worker", worker).orElseThrow() >= 1);
        assertEquals(1, second.value("bagpipe_worker_ring_generation", "worker", worker).orElseThrow());
        // two ranks: each sends 2 (W-1)/W = 1 times the gradient's bytes per step
        assertTrue(second.value("bagpipe_allreduce_bytes_total", "worker", worker).orElseThrow() > 0);
      }
      assertTrue(second.value("bagpipe_loader_bags_in_flight").isPresent());
      assertTrue(second.value("bagpipe_loader_tasks_in_flight").isPresent());
      assertTrue(second.value("bagpipe_loader_patches_total").orElseThrow() > 0);
      assertTrue(second.value("bagpipe_loader_decode_seconds_total").orElseThrow() > 0);
      assertTrue(second.value("jvm_memory_used_bytes", "area", "heap").orElseThrow() > 0);
      String runLabel = runDir.getFileName().toString();
      assertTrue(second.samples().stream().filter(s -> s.name().startsWith("bagpipe_"))
          .allMatch(s -> runLabel.equals(s.labels().get("run")) && "local".equals(s.labels().get("node"))));

      StringWriter out = new StringWriter();
      CommandLine cl = Main.commandLine();
      cl.setOut(new PrintWriter(out));
      assertEquals(0, cl.execute("status", runDir.toString()));
      String view = out.toString();
      // between epochs the run validates: either phase is a running run
      assertTrue(view.matches("(?s)[^\n]*\nrun " + runLabel
          + ": (training|validating epoch \\d+ \\(8 bags\\)), 1 of 1 node\\(s\\) answering\n.*"), view);
      // at an epoch's start no step of it is committed yet: no loss, no pace
      assertTrue(view.matches("(?s).*epoch \\d+/200  step \\d+/12  loss (\\d+\\.\\d{4}|NaN)  \\d+\\.\\d\\d bags/s.*"),
          view);
      assertTrue(view.matches("(?s).*\nETA: (epoch [^,]+, run [^(]+ \\(training steps|- \\(no step).*"), view);
      assertTrue(view.contains("ring generation 1, 2 workers; workers joined 2, lost 0"), view);
      assertTrue(view.matches("(?s).*node local \\(metrics 127\\.0\\.0\\.1:\\d+\\): workers 2, loader queue \\d+ bags,.*"),
          view);
      assertTrue(view.contains("recent faults: none"), view);
    } finally {
      run.stop();
      run.result().toCompletableFuture().get(3, TimeUnit.MINUTES);
    }
    try (Stream<Path> left = Files.list(targets)) {
      assertEquals(List.of(), left.toList(), "the node removes its target file when the run ends");
    }
    RunStatus.View after = new RunStatus(runDir, Duration.ofSeconds(1)).refresh();
    assertEquals(0, after.answering());
    assertTrue(after.text().contains("no node of a running run is listed"), after.text());
    assertEquals(1, Main.commandLine().execute("status", runDir.toString()));
  }

  @Test
  void aListedNodeThatDoesNotAnswerIsNamed() throws Exception {
    Path runDir = Files.createDirectories(DATA.dir().resolve("stale").resolve(MetricsEndpoint.TARGETS)).getParent();
    int closed;
    try (var s = new java.net.ServerSocket(0)) {
      closed = s.getLocalPort();
    }
    Files.writeString(runDir.resolve(MetricsEndpoint.TARGETS).resolve("gone.json"),
        "[{\"targets\": [\"127.0.0.1:" + closed + "\"], \"labels\": {}}]\n");
    RunStatus.View v = new RunStatus(runDir, Duration.ofSeconds(1)).refresh();
    assertEquals(1, v.listed());
    assertEquals(0, v.answering());
    assertTrue(v.text().contains("none of the 1 listed node(s) answers"), v.text());
    assertTrue(v.text().matches("(?s).*127\\.0\\.0\\.1:" + closed + " not answering \\(ConnectException\\).*"),
        v.text());
    assertFalse(v.text().contains("epoch"), v.text());
  }

  @Test
  void aPortInUseFailsTheRunAtItsStartNamingTheKey() throws Exception {
    try (var taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      BagpipeRun run = Bagpipe.start(TrainingFixtures.config(DATA.data(), DATA.dir().resolve("clash"),
          "bagpipe.metrics.port=" + taken.getLocalPort()));
      var e = org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.ExecutionException.class,
          () -> run.result().toCompletableFuture().get(1, TimeUnit.MINUTES));
      assertTrue(e.getCause().getMessage().contains("bagpipe.metrics.port"), e.getCause().getMessage());
      assertFalse(Files.exists(DATA.dir().resolve("clash").resolve(MetricsEndpoint.TARGETS)),
          "no endpoint is listed");
    }
  }

  private static String awaitTarget(Path runDir) throws Exception {
    long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
    while (System.nanoTime() < end) {
      List<String> t = new RunStatus(runDir, Duration.ofSeconds(1)).targets();
      if (!t.isEmpty()) {
        assertEquals(1, t.size(), "one node, one endpoint: " + t);
        return t.getFirst();
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no metrics target file in " + runDir.resolve(MetricsEndpoint.TARGETS));
  }

  private static Scrape await(URI url, Predicate<Scrape> ready) throws Exception {
    long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
    Scrape last = null;
    while (System.nanoTime() < end) {
      try {
        last = Scrape.fetch(url, Duration.ofSeconds(5));
        if (ready.test(last)) {
          return last;
        }
      } catch (IOException e) {
        // the server is starting
      }
      Thread.sleep(20);
    }
    throw new AssertionError("the scrape never got there; last: " + (last == null ? "none" : last.all("bagpipe_steps_total")));
  }
}
