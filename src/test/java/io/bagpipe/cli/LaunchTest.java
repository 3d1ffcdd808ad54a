package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bagpipe launch --nodes 2} as a user runs it: real node processes forming a cluster on loopback. */
class LaunchTest {

  @TempDir Path dir;

  /** {@code bagpipe launch --nodes 2} as a child JVM like this one (its JVM flags, its classpath); append {@code --set}s. */
  static List<String> launchTwoNodes() {
    return launchNodes(2);
  }

  /** {@code bagpipe launch --nodes n} as a child JVM like this one; append {@code --set}s. */
  static List<String> launchNodes(int n) {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElseThrow());
    cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--enable-native-access") || a.startsWith("--sun-misc") || a.startsWith("-Dai.djl"))
        .toList());
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "launch", "--nodes", Integer.toString(n)));
    return cmd;
  }

  @Test
  void twoNodeProcessesTrainOneRunAndShowNodeZerosProgress() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    List<String> cmd = launchTwoNodes();
    for (String s : List.of("bagpipe.data.dir=" + data, "bagpipe.train.run-dir=" + runDir, "bagpipe.train.epochs=1",
        "bagpipe.plan.patch-size=" + TrainingFixtures.PATCH, "bagpipe.plan.bag-size=4", "bagpipe.plan.bag-num=2",
        "bagpipe.plan.folds.k=4", "bagpipe.plan.folds.train=123", "bagpipe.plan.folds.val=4")) {
      cmd.addAll(List.of("--set", s));
    }
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(4, TimeUnit.MINUTES), "launch finished");
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("2 worker(s)"), out);
    assertTrue(out.contains("done: 1 epoch(s)"), "node 0 shows the summary:\n" + out);
    assertTrue(!out.contains("[node-1] done:"), "other nodes show warnings only:\n" + out);
    assertEquals(1, Files.readAllLines(runDir.resolve("metrics.jsonl")).size());
    assertTrue(Files.exists(runDir.resolve("checkpoints/best.ckpt")));
  }

  @Test
  void withoutADataSetTheNodesTrainTheDemoData() throws Exception {
    List<String> cmd = launchTwoNodes();
    // a small demo: bagpipe.data.dir stays at its default
    for (String s : List.of("bagpipe.synth.slides=8", "bagpipe.synth.width=1792", "bagpipe.synth.height=1792",
        "bagpipe.demo.epochs=1", "bagpipe.plan.bag-size=4", "bagpipe.plan.bag-num=2")) {
      cmd.addAll(List.of("--set", s));
    }
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(4, TimeUnit.MINUTES), "launch finished");
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("the nodes train the demo data"), out);
    assertTrue(out.contains("2 worker(s), 4 training and 4 validation slides"), out);
    assertTrue(out.contains("done: 1 epoch(s)"), out);
    assertEquals(1, Files.readAllLines(dir.resolve("work/runs/demo/metrics.jsonl")).size());
    assertTrue(Files.exists(dir.resolve("work/demo-data/manifest.csv")));
  }
}
