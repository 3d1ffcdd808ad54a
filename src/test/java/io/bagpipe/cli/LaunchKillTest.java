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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real node processes of a {@code bagpipe launch --nodes 3} run, and a node that does
 * not hold the Coordinator killed with SIGKILL (or stopped with SIGSTOP) mid-epoch:
 * the others regroup and finish every epoch, each epoch's ledger shows every training
 * bag trained once and every validation bag scored once, and the launch ends with
 * success, saying which node was killed.
 */
@Timeout(300)
class LaunchKillTest {

  @TempDir Path dir;

  private static final Pattern NUMBER = Pattern.compile("\"(ledger_[a-z_]+|workers_lost|workers_joined)\":(\\d+)");

  /** {@code launch --nodes 3} on the fixture data for {@code epochs} epochs, with {@code more} arguments. */
  private Process launch(Path data, Path runDir, int epochs, String... more) throws IOException {
    List<String> cmd = LaunchTest.launchNodes(3);
    cmd.addAll(List.of(more));
    for (String s : List.of("bagpipe.data.dir=" + data, "bagpipe.train.run-dir=" + runDir,
        "bagpipe.train.epochs=" + epochs, "bagpipe.plan.patch-size=" + TrainingFixtures.PATCH,
        "bagpipe.plan.bag-size=4", "bagpipe.plan.bag-num=8", "bagpipe.plan.folds.k=4",
        "bagpipe.plan.folds.train=123", "bagpipe.plan.folds.val=4")) {
      cmd.addAll(List.of("--set", s));
    }
    return new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
  }

  /** Waits until the run recorded its first epoch, then a moment more, into the next epoch's steps. */
  private static void awaitFirstEpoch(Process p, Path runDir, ByteArrayOutputStream output) throws Exception {
    Path metrics = runDir.resolve("metrics.jsonl");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
    while (!(Files.exists(metrics) && !Files.readAllLines(metrics).isEmpty())) {
      assertTrue(p.isAlive(), "launch ended early:\n" + output);
      assertTrue(System.nanoTime() < deadline, "no epoch in time:\n" + output);
      Thread.sleep(50);
    }
    Thread.sleep(400);
  }

  /** Every epoch once in metrics.jsonl, each with a balanced ledger; returns the ledger counts summed over epochs. */
  private static Map<String, Long> ledgers(Path runDir, int epochs) throws IOException {
    List<String> lines = Files.readAllLines(runDir.resolve("metrics.jsonl"));
    assertEquals(epochs, lines.size(), "each epoch recorded once:\n" + String.join("\n", lines));
    Map<String, Long> sum = new HashMap<>();
    for (String line : lines) {
      Map<String, Long> n = new HashMap<>();
      Matcher m = NUMBER.matcher(line);
      while (m.find()) {
        n.put(m.group(1), Long.parseLong(m.group(2)));
      }
      // 48 bags in steps of 3 (3 workers at the start x 1 bag); an epoch a new Coordinator
      // picked up mid-way accounts for the bags from there.
      assertEquals(48L - 3 * n.get("ledger_first_step"), n.get("ledger_bags_planned"), line);
      assertEquals(n.get("ledger_bags_planned"), n.get("ledger_bags_committed"),
          "every training bag in one committed step: " + line);
      assertEquals(16L, n.get("ledger_val_scored"), "every validation bag scored once: " + line);
      n.forEach((k, v) -> sum.merge(k, v, Long::sum));
    }
    return sum;
  }

  private static ProcessHandle aNodeButNodeZero(Process p) {
    return p.children().filter(LaunchKillTest::isNotNodeZero).findFirst()
        .orElseThrow(() -> new AssertionError("no node but node 0 among " + p.children().toList()));
  }

  /** What a launch printed and how it ended. */
  private record Ended(int exit, String output) {}

  /** Something done to a running launch, given its process and the output so far. */
  @FunctionalInterface
  private interface Act {
    void on(Process launch, ByteArrayOutputStream output) throws Exception;
  }

  /**
   * Waits for {@code p}'s first epoch, does {@code act}, then waits for the launch to
   * end; whatever is left of it is killed either way.
   */
  private static Ended during(Process p, Path runDir, Act act) throws Exception {
    ByteArrayOutputStream output = new ByteArrayOutputStream();
    Thread pump = Thread.ofVirtual().start(() -> copy(p.getInputStream(), output));
    try {
      awaitFirstEpoch(p, runDir, output);
      act.on(p, output);
      assertTrue(p.waitFor(3, TimeUnit.MINUTES), "the launch ended:\n" + output);
    } finally {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
    pump.join();
    return new Ended(p.exitValue(), output.toString(StandardCharsets.UTF_8));
  }

  /** {@code p} run to its end. */
  private static Ended toEnd(Process p) throws Exception {
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(3, TimeUnit.MINUTES), out);
    return new Ended(p.exitValue(), out);
  }

  /** Waits until the run's second epoch (index 1) has a checkpoint written after its step 0. */
  private static void awaitMidEpochCheckpoint(Process p, Path checkpoints, ByteArrayOutputStream output)
      throws Exception {
    Pattern midEpoch = Pattern.compile("epoch-0001-step-(\\d+)\\.ckpt");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      try (var files = Files.list(checkpoints)) {
        if (files.map(f -> midEpoch.matcher(f.getFileName().toString()))
            .anyMatch(m -> m.matches() && Long.parseLong(m.group(1)) > 0)) {
          return;
        }
      }
      assertTrue(p.isAlive(), "launch ended early:\n" + output);
      assertTrue(System.nanoTime() < deadline, "no checkpoint within epoch 2 in time:\n" + output);
      Thread.sleep(20);
    }
  }

  /** Kills the launcher and every node at once, as losing the whole allocation would. */
  private static void killAll(Process p, ByteArrayOutputStream output) {
    p.descendants().forEach(ProcessHandle::destroyForcibly);
    p.destroyForcibly();
  }

  @Test
  void aKilledNodeIsLeftBehindAndTheOthersFinishTheRun() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    Ended e = during(launch(data, runDir, 3), runDir, (p, o) -> aNodeButNodeZero(p).destroyForcibly());
    assertEquals(0, e.exit(), e.output());
    assertTrue(e.output().contains("was killed (signal 9)"), e.output());
    assertTrue(e.output().contains("ring generation 2 formed with 2 worker(s)"), e.output());
    assertTrue(e.output().contains("done: 3 epoch(s)"), e.output());
    assertEquals(1L, ledgers(runDir, 3).get("workers_lost"));
  }

  /**
   * With {@code --restarts 1} the launcher starts the killed node again; it joins the
   * running run and is healed from a live node over the data channel (no checkpoint
   * read), and the run ends with three workers.
   */
  @Test
  void aKilledNodeStartedAgainJoinsHealedFromALiveNode() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    // Enough epochs (about a second each) for the node started again to load and join.
    Ended e = during(launch(data, runDir, 25, "--restarts", "1"), runDir,
        (p, o) -> aNodeButNodeZero(p).destroyForcibly());
    assertEquals(0, e.exit(), e.output());
    assertTrue(e.output().contains("starting it again (0 restart(s) left)"), e.output());
    assertTrue(e.output().contains("healed 1 joining worker(s) from rank 0"), e.output());
    Map<String, Long> sum = ledgers(runDir, 25);
    assertEquals(1L, sum.get("workers_lost"), sum.toString());
    assertEquals(1L, sum.get("workers_joined"), sum.toString());
    String last = Files.readAllLines(runDir.resolve("metrics.jsonl")).getLast();
    assertTrue(last.contains("\"workers\":3"), "the last epoch trained on three workers: " + last);
  }

  /**
   * A node that hangs (SIGSTOP: alive, silent) misses its step's deadline: the
   * Coordinator names its rank, evicts it, and the others finish the run.
   */
  @Test
  void aHungNodeIsNamedAndEvicted() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    Ended e = during(launch(data, runDir, 3), runDir, (p, output) -> {
      ProcessHandle hung = aNodeButNodeZero(p);
      signal("STOP", hung);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
      while (!output.toString(StandardCharsets.UTF_8).contains("done: 3 epoch(s)")) {
        assertTrue(System.nanoTime() < deadline, "the others finished the run:\n" + output);
        assertTrue(p.isAlive(), "launch ended early:\n" + output);
        Thread.sleep(100);
      }
      hung.destroyForcibly(); // still stopped; its launch waits for it
      signal("CONT", hung);
    });
    assertEquals(0, e.exit(), e.output());
    assertTrue(e.output().contains("did not finish step"), "names the hung rank:\n" + e.output());
    assertTrue(e.output().contains("ring generation 2 formed with 2 worker(s)"), e.output());
    assertEquals(1L, ledgers(runDir, 3).get("workers_lost"));
  }

  /**
   * The node that holds the Coordinator (node 0, the oldest) is killed mid-epoch: once
   * the split-brain resolver has downed it, the singleton starts on the next oldest
   * node, gathers the surviving workers, and goes on from the last step they all
   * applied, without restarting them; every epoch is recorded once.
   */
  @Test
  void theCoordinatorsNodeIsLostAndANewCoordinatorGoesOn() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    Ended e = during(launch(data, runDir, 4), runDir,
        (p, o) -> p.children().filter(h -> !isNotNodeZero(h)).findFirst().orElseThrow().destroyForcibly());
    assertEquals(0, e.exit(), e.output());
    assertTrue(e.output().contains("launch: node 0 was killed (signal 9)"), e.output());
    assertTrue(e.output().contains("took over the run at epoch"), e.output());
    ledgers(runDir, 4); // every epoch recorded once, each ledger balanced
  }

  /**
   * Every node killed at once (the whole allocation lost), while checkpoints are
   * written after every step: the same command with resume goes on from the last
   * step written, mid-epoch, and the epoch's record still accounts for all its bags.
   */
  @Test
  void everyNodeKilledResumesMidEpochWithTheEpochsLedger() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    // Killed once the second epoch has a checkpoint of its own (how long that takes after the
    // first epoch's record varies with the machine's load; the resume is what is tested).
    during(launch(data, runDir, 3, "--set", "bagpipe.checkpoint.every-steps=1"), runDir,
        (p, output) -> {
          awaitMidEpochCheckpoint(p, runDir.resolve("checkpoints"), output);
          killAll(p, output);
        });
    Ended e = toEnd(launch(data, runDir, 3, "--set", "bagpipe.checkpoint.every-steps=1"));
    assertEquals(0, e.exit(), e.output());
    Matcher at = Pattern.compile("resuming at epoch 2 step (\\d+)").matcher(e.output());
    assertTrue(at.find(), "resumed within epoch 2:\n" + e.output());
    assertTrue(Integer.parseInt(at.group(1)) > 0, "from a step written within the epoch:\n" + e.output());
    Map<String, Long> sum = ledgers(runDir, 3); // each epoch once, all of its bags accounted for
    assertEquals(0L, sum.get("ledger_first_step"), "the resumed epoch's ledger began at its step 0: " + sum);
  }

  /**
   * A corrupt training slide and a corrupt validation slide are quarantined in the
   * first epoch (their bags skipped and reported), recorded in quarantine.jsonl, and
   * left out of every later epoch, also after every node was killed and the run
   * resumed; the validation slide left out is named in each later epoch's record.
   */
  @Test
  void corruptSlidesAreQuarantinedAndStayOutAfterAResume() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Files.write(data.resolve("slides/s02.tif"), new byte[] {'n', 'o', 't', ' ', 'a', ' ', 't', 'i', 'f', 'f'});
    Files.write(data.resolve("slides/s06.tif"), new byte[] {'I', 'I', 42, 0, 1, 2, 3});
    Path runDir = dir.resolve("run");
    String first = during(launch(data, runDir, 4, "--set", "bagpipe.train.max-quarantined=0.3"), runDir,
        LaunchKillTest::killAll).output();
    assertTrue(first.contains("slide 's02' quarantined"), first);
    assertTrue(first.contains("slide 's06' quarantined"), first);

    Ended e = toEnd(launch(data, runDir, 4, "--set", "bagpipe.train.max-quarantined=0.3"));
    assertEquals(0, e.exit(), e.output());
    assertTrue(!e.output().contains("quarantined ("), "nothing read the quarantined slides again:\n" + e.output());
    List<String> quarantine = Files.readAllLines(runDir.resolve("quarantine.jsonl"));
    assertEquals(2, quarantine.size(), String.join("\n", quarantine));
    List<String> lines = Files.readAllLines(runDir.resolve("metrics.jsonl"));
    assertEquals(4, lines.size(), String.join("\n", lines));
    for (String line : lines.subList(1, 4)) {
      assertTrue(line.contains("\"ledger_bags_planned\":40,"), "s02's 8 bags are out of the plan: " + line);
      assertTrue(line.contains("\"ledger_bags_skipped\":0,"), line);
      assertTrue(line.contains("\"ledger_val_planned\":8,"), "s06's 8 bags are out of validation: " + line);
      assertTrue(line.contains("\"quarantined_val_slides\":\"s06\""), "the slide left out is named: " + line);
    }
    String firstEpoch = lines.getFirst();
    assertTrue(firstEpoch.contains("\"ledger_bags_skipped\":8,"), firstEpoch);
    assertTrue(firstEpoch.contains("\"ledger_val_skipped\":8,"), firstEpoch);
  }

  private static void signal(String name, ProcessHandle h) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(h.pid())).inheritIO().start();
    assertEquals(0, kill.waitFor(), "kill -" + name + " " + h.pid());
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
