package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node process of a {@code bagpipe launch --nodes 2} run is killed with SIGKILL
 * mid-training: the surviving node ends the run within seconds with an error that
 * names the lost rank and says how to resume, the checkpoints already written stay
 * intact, and the same command with {@code resume = true} finishes the run.
 */
@Timeout(300)
class LaunchKillTest {

  @TempDir Path dir;

  private List<String> launch(Path data, Path runDir, int epochs, boolean resume) {
    List<String> cmd = LaunchTest.launchTwoNodes();
    for (String s : List.of("bagpipe.data.dir=" + data, "bagpipe.train.run-dir=" + runDir,
        "bagpipe.train.epochs=" + epochs, "bagpipe.train.resume=" + resume,
        "bagpipe.plan.patch-size=" + TrainingFixtures.PATCH, "bagpipe.plan.bag-size=4", "bagpipe.plan.bag-num=8",
        "bagpipe.plan.folds.k=4", "bagpipe.plan.folds.train=123", "bagpipe.plan.folds.val=4")) {
      cmd.addAll(List.of("--set", s));
    }
    return cmd;
  }

  @Test
  void aKilledNodeEndsTheRunNamingItAndTheRunResumes() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    Process p = new ProcessBuilder(launch(data, runDir, 1000, false)).directory(dir.toFile())
        .redirectErrorStream(true).start();
    ByteArrayOutputStream output = new ByteArrayOutputStream();
    Thread pump = Thread.ofVirtual().start(() -> copy(p.getInputStream(), output));
    try {
      Path metrics = runDir.resolve("metrics.jsonl");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
      while (!(Files.exists(metrics) && Files.readAllLines(metrics).size() >= 2)) {
        assertTrue(p.isAlive(), "launch ended early:\n" + output);
        assertTrue(System.nanoTime() < deadline, "no two epochs in time:\n" + output);
        Thread.sleep(100);
      }
      Thread.sleep(300); // into the next epoch's training steps (about 2 s of them), past its checkpoint
      ProcessHandle node1 = p.children().filter(LaunchKillTest::isNodeOne).findFirst()
          .orElseThrow(() -> new AssertionError("node 1's process not found among " + p.children().toList()));
      node1.destroyForcibly();
      long killed = System.nanoTime();
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the surviving node ended the run:\n" + output);
      double secs = (System.nanoTime() - killed) / 1e9;
      pump.join();
      String out = output.toString(StandardCharsets.UTF_8);
      assertNotEquals(0, p.exitValue(), out);
      // Killed mid-step, the ring breaks at once; killed while the workers validate,
      // the cluster notices the lost node a few seconds later. Either names it.
      assertTrue(out.contains("run failed: the gradient ring broke") || out.contains("run failed: worker 1 of 2 stopped"),
          out);
      assertTrue(out.contains("rank 1") || out.contains("worker 1"), "names the lost worker:\n" + out);
      assertTrue(out.contains("bagpipe.train.resume = true"), "says how to resume:\n" + out);
      assertTrue(secs < 45, "ended " + secs + " s after the kill");
    } finally {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
    int done = Files.readAllLines(runDir.resolve("metrics.jsonl")).size();
    try (var files = Files.list(runDir.resolve("checkpoints"))) {
      assertTrue(files.anyMatch(f -> f.getFileName().toString().equals(
          String.format("epoch-%04d-step-%07d.ckpt", done, 0)) || f.getFileName().toString().startsWith(
          String.format("epoch-%04d-", done))), "the checkpoint of epoch " + done + " survived");
    }

    Process again = new ProcessBuilder(launch(data, runDir, done + 1, true)).directory(dir.toFile())
        .redirectErrorStream(true).start();
    String out = new String(again.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(again.waitFor(3, TimeUnit.MINUTES), out);
    assertEquals(0, again.exitValue(), out);
    assertTrue(out.contains("resuming at epoch " + (done + 1) + " step 0"), out);
    assertTrue(out.contains("done: 1 epoch(s)"), out);
    assertEquals(done + 1, Files.readAllLines(runDir.resolve("metrics.jsonl")).size(), "resumed after epoch " + done);
  }

  /** Node 1 is the node started with {@code --no-progress} (its arguments, from /proc on Linux). */
  private static boolean isNodeOne(ProcessHandle h) {
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
