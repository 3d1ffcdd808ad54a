package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.checkpoint.Recovery;
import io.bagpipe.checkpoint.RunState;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ctrl-C to {@code bagpipe train} and {@code bagpipe node} in real processes: the run
 * stops after its current step with a checkpoint at that plan position, the process
 * says so and exits. On a node, Pekko's own shutdown hook (on by default, registered
 * because the cluster uses coordinated shutdown) would make the node leave its cluster
 * and terminate its ActorSystem under the stop, failing the run without a checkpoint.
 */
@Timeout(300)
class TrainStopTest {

  @TempDir Path dir;

  /** {@code bagpipe <verb>} as a child JVM like this one (its JVM flags, its classpath), with {@code sets}. */
  private static List<String> bagpipe(List<String> verb, List<String> sets) {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElseThrow());
    cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--enable-native-access") || a.startsWith("--sun-misc") || a.startsWith("-Dai.djl"))
        .toList());
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
    cmd.addAll(verb);
    for (String s : sets) {
      cmd.addAll(List.of("--set", s));
    }
    return cmd;
  }

  /** The fixture run without validation (a stop lands within an epoch), for more epochs than the test waits for. */
  private static List<String> settings(Path data, Path runDir, String... more) {
    List<String> sets = new ArrayList<>(List.of("bagpipe.data.dir=" + data, "bagpipe.train.run-dir=" + runDir,
        "bagpipe.train.epochs=1000", "bagpipe.plan.patch-size=" + TrainingFixtures.PATCH, "bagpipe.plan.folds.k=4",
        "bagpipe.plan.folds.train=1234", "bagpipe.plan.folds.val=", "bagpipe.worker.devices=[cpu]",
        "bagpipe.worker.intra-op-threads=1", "bagpipe.loader.threads=1"));
    sets.addAll(List.of(more));
    return sets;
  }

  /**
   * SIGINT, as Ctrl-C sends it, when the child handles it; a JVM started with SIGINT
   * ignored (a background job of a non-interactive shell) keeps it ignored, and then
   * SIGTERM, which runs the same shutdown hooks.
   */
  private static String shutdownSignal(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (line.startsWith("SigCgt:")) {
        return new BigInteger(line.substring(7).trim(), 16).testBit(1) ? "INT" : "TERM";
      }
    }
    return "INT";
  }

  private static void copy(InputStream in, ByteArrayOutputStream out) {
    byte[] b = new byte[8192];
    try {
      for (int n; (n = in.read(b)) > 0; ) {
        synchronized (out) {
          out.write(b, 0, n);
        }
      }
    } catch (IOException closed) {
      // the child is gone
    }
  }

  private static String text(ByteArrayOutputStream out) {
    synchronized (out) {
      return out.toString(StandardCharsets.UTF_8);
    }
  }

  /**
   * Starts {@code cmd}, waits until {@code ready} holds, sends the shutdown signal and
   * checks what the user sees: the process exits within bagpipe.train.stop-timeout (120 s) and
   * a margin as a stopped run (a loaded machine trains the steps dealt ahead slowly), says it
   * stopped, and the newest checkpoint lies at the step it stopped at, within an epoch.
   */
  private void stopsWithACheckpoint(List<String> cmd, Path runDir, Ready ready) throws Exception {
    stopsWithACheckpoint(cmd, runDir, ready, null);
  }

  /** As above, with {@code given} as the signal (null: the shutdown signal the child handles). */
  private void stopsWithACheckpoint(List<String> cmd, Path runDir, Ready ready, String given) throws Exception {
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    ByteArrayOutputStream output = new ByteArrayOutputStream();
    Thread pump = Thread.ofVirtual().start(() -> copy(p.getInputStream(), output));
    String signal;
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (!ready.test(text(output))) {
        assertTrue(p.isAlive(), "the process ended early:\n" + text(output));
        assertTrue(System.nanoTime() < deadline, "not ready in time:\n" + text(output));
        Thread.sleep(50);
      }
      signal = given != null ? given : shutdownSignal(p.pid());
      assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor());
      assertTrue(p.waitFor(150, TimeUnit.SECONDS), "no exit within 150 s of SIG" + signal + ":\n" + text(output));
    } finally {
      p.destroyForcibly();
    }
    pump.join();
    String out = text(output);
    assertEquals(signal.equals("TERM") ? 143 : 130, p.exitValue(), out);
    assertTrue(out.contains("stopping after the current step"), out);
    Matcher stopped = Pattern.compile("stopped after (\\d+) epoch\\(s\\)").matcher(out);
    assertTrue(stopped.find(), "SIG" + signal + ":\n" + out);
    Recovery.Found stop = new CheckpointStore(runDir.resolve("checkpoints"), 2).latest()
        .orElseThrow(() -> new AssertionError("no checkpoint after SIG" + signal + ":\n" + out));
    RunState at = stop.checkpoint().state();
    assertEquals(Integer.parseInt(stopped.group(1)), at.epoch(), "the epoch it stopped in:\n" + out);
    assertTrue(at.step() > 0, "a checkpoint at the step the run stopped at, not only the epoch's: " + stop.file());
    assertEquals(CheckpointStore.fileName(at.epoch(), at.step()), stop.file().getFileName().toString());
  }

  /** When to send the signal, from the output so far or the run directory. */
  @FunctionalInterface
  private interface Ready {
    boolean test(String output) throws IOException;
  }

  /** The first epoch is recorded and checkpointed, and the second is some of its 64 steps in. */
  @Test
  void ctrlCToTrainStopsAfterTheCurrentStepWithACheckpointThere() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    Pattern secondEpoch = Pattern.compile("epoch 2/\\d+ \\[[#.]+\\] [1-9]\\d*/64 steps");
    stopsWithACheckpoint(bagpipe(List.of("train"), settings(data, runDir, "bagpipe.plan.bag-size=4",
        "bagpipe.plan.bag-num=8")), runDir, out -> secondEpoch.matcher(out).find()
            && !Files.readAllLines(runDir.resolve("metrics.jsonl")).isEmpty());
  }

  /**
   * SIGUSR1, which deploy/slurm/bagpipe.sbatch has Slurm send ahead of the time limit, stops
   * the run as Ctrl-C does, and the process ends by itself once the checkpoint is written.
   */
  @Test
  void sigusr1ToTrainStopsAfterTheCurrentStepWithACheckpointThere() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    Pattern secondEpoch = Pattern.compile("epoch 2/\\d+ \\[[#.]+\\] [1-9]\\d*/64 steps");
    stopsWithACheckpoint(bagpipe(List.of("train"), settings(data, runDir, "bagpipe.plan.bag-size=4",
        "bagpipe.plan.bag-num=8")), runDir, out -> secondEpoch.matcher(out).find()
            && !Files.readAllLines(runDir.resolve("metrics.jsonl")).isEmpty(), "USR1");
  }

  /**
   * A one-node cluster whose steps (8 bags of 63 patches through ResNet-18, 8 steps an
   * epoch) take seconds, longer than Pekko's shutdown takes to remove the node from its
   * cluster: the signal comes once the first step is done.
   */
  @Test
  void ctrlCToANodeStopsTheRunWithACheckpointBeforeTheNodeLeaves() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 64);
    Path runDir = dir.resolve("run");
    Pattern firstEpoch = Pattern.compile("epoch 1/\\d+ \\[[#.]+\\] [1-9]\\d*/8 steps");
    stopsWithACheckpoint(bagpipe(List.of("node", "--port", "0", "--min-workers", "1"), settings(data, runDir,
        "bagpipe.model.encoder=resnet18", "bagpipe.plan.bag-size=all", "bagpipe.plan.bag-num=1",
        "bagpipe.plan.bags-per-step=8")), runDir, out -> firstEpoch.matcher(out).find());
  }

  @Test
  void theCliTurnsPekkosShutdownHookOffAndReadsItsStopTimeout() {
    var defaults = ConfigOptions.defaults(List.of());
    assertTrue(defaults.getBoolean("pekko.coordinated-shutdown.run-by-jvm-shutdown-hook"));
    assertFalse(TrainCommand.forCli(defaults).getBoolean("pekko.coordinated-shutdown.run-by-jvm-shutdown-hook"));
    assertEquals(defaults.getString("bagpipe.data.dir"), TrainCommand.forCli(defaults).getString("bagpipe.data.dir"));
    assertEquals(java.time.Duration.ofMinutes(2), TrainCommand.stopTimeout(defaults));
    var e = assertThrows(com.typesafe.config.ConfigException.BadValue.class,
        () -> TrainCommand.stopTimeout(ConfigOptions.defaults(List.of("bagpipe.train.stop-timeout=0s"))));
    assertTrue(e.getMessage().contains("bagpipe.train.stop-timeout"), e.getMessage());
  }
}
