package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node process of a {@code bagpipe launch --nodes 3} run that does not hold the
 * Coordinator is killed with SIGKILL mid-epoch: the two others regroup and finish
 * every epoch, each epoch's ledger shows every training bag trained once and every
 * validation bag scored once, and the launch ends with success, saying which node
 * was killed.
 */
@Timeout(300)
class LaunchKillTest {

  @TempDir Path dir;

  private static final Pattern NUMBER = Pattern.compile("\"(ledger_[a-z_]+|workers_lost)\":(\\d+)");

  @Test
  void aKilledNodeIsLeftBehindAndTheOthersFinishTheRun() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    List<String> cmd = LaunchTest.launchNodes(3);
    for (String s : List.of("bagpipe.data.dir=" + data, "bagpipe.train.run-dir=" + runDir, "bagpipe.train.epochs=3",
        "bagpipe.plan.patch-size=" + TrainingFixtures.PATCH, "bagpipe.plan.bag-size=4", "bagpipe.plan.bag-num=8",
        "bagpipe.plan.folds.k=4", "bagpipe.plan.folds.train=123", "bagpipe.plan.folds.val=4")) {
      cmd.addAll(List.of("--set", s));
    }
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    ByteArrayOutputStream output = new ByteArrayOutputStream();
    Thread pump = Thread.ofVirtual().start(() -> copy(p.getInputStream(), output));
    try {
      Path metrics = runDir.resolve("metrics.jsonl");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
      while (!(Files.exists(metrics) && !Files.readAllLines(metrics).isEmpty())) {
        assertTrue(p.isAlive(), "launch ended early:\n" + output);
        assertTrue(System.nanoTime() < deadline, "no epoch in time:\n" + output);
        Thread.sleep(50);
      }
      Thread.sleep(400); // into the next epoch's training steps
      ProcessHandle node = p.children().filter(LaunchKillTest::isNotNodeZero).findFirst()
          .orElseThrow(() -> new AssertionError("no node but node 0 among " + p.children().toList()));
      node.destroyForcibly();
      assertTrue(p.waitFor(3, TimeUnit.MINUTES), "the other nodes finished the run:\n" + output);
    } finally {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
    pump.join();
    String out = output.toString(StandardCharsets.UTF_8);
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("was killed (signal 9)"), out);
    assertTrue(out.contains("ring generation 2 formed with 2 worker(s)"), out);
    assertTrue(out.contains("done: 3 epoch(s)"), out);
    List<String> lines = Files.readAllLines(runDir.resolve("metrics.jsonl"));
    assertEquals(3, lines.size(), "each epoch recorded once:\n" + String.join("\n", lines));
    long lost = 0;
    for (String line : lines) {
      java.util.Map<String, Long> n = new java.util.HashMap<>();
      Matcher m = NUMBER.matcher(line);
      while (m.find()) {
        n.put(m.group(1), Long.parseLong(m.group(2)));
      }
      assertEquals(48L, n.get("ledger_bags_planned"), line);
      assertEquals(48L, n.get("ledger_bags_committed"), "every training bag in one committed step: " + line);
      assertEquals(16L, n.get("ledger_val_scored"), "every validation bag scored once: " + line);
      lost += n.get("workers_lost");
    }
    assertEquals(1, lost, String.join("\n", lines));
  }

  /** Nodes other than node 0 are started with {@code --no-progress} (their arguments, from /proc on Linux). */
  private static boolean isNotNodeZero(ProcessHandle h) {
    try {
      String cmdline = Files.readString(Path.of("/proc", Long.toString(h.pid()), "cmdline"), StandardCharsets.UTF_8);
      return List.of(cmdline.split("\0")).contains("--no-progress");
    } catch (IOException e) {
      return h.info().commandLine().map(c -> c.contains("--no-progress")).orElse(false);
    }
  }

  private static void copy(InputStream in, ByteArrayOutputStream out) {
    try (in) {
      in.transferTo(out);
    } catch (IOException ignored) {
      // the process ended
    }
  }
}
