package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.checkpoint.NamedTensor;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Two nodes (two ActorSystems in this JVM, Artery and the data channel on
 * loopback, port 0) with one worker each train the same run as one node with one
 * worker and two bags per step.
 */
class ClusterRunTest {

  @TempDir static Path dir;
  static Path data;

  /** Two cluster nodes of one run in this JVM, the first the seed (and so the oldest), with {@code settings}. */
  static List<BagpipeRun> twoNodes(Path data, Path runDir, String... settings) {
    BagpipeRun first = Bagpipe.startNode(TrainingFixtures.config(data, runDir, settings));
    String seed = first.nodeAddress().orElseThrow();
    String[] joining = java.util.stream.Stream.concat(java.util.Arrays.stream(settings),
        java.util.stream.Stream.of("bagpipe.cluster.seed-nodes=[\"" + seed + "\"]")).toArray(String[]::new);
    return List.of(first, Bagpipe.startNode(TrainingFixtures.config(data, runDir, joining)));
  }

  @BeforeAll
  static void data() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
  }

  /** Both ActorSystems share this JVM's host: {@code auto} rings go through shared memory, {@code tcp} ones over TCP. */
  @ParameterizedTest
  @ValueSource(strings = {"auto", "tcp"})
  void twoNodesEqualOneNodeWithTwoBagsPerStepAndKeepIdenticalReplicas(String transport) throws Exception {
    Path clusterRun = dir.resolve("cluster-" + transport);
    String[] common = {"bagpipe.train.epochs=2", "bagpipe.cluster.port=0", "bagpipe.cluster.min-workers=2",
        "bagpipe.cluster.system-name=bagpipe-test", "bagpipe.allreduce.timeout=20s",
        "bagpipe.allreduce.transport=" + transport};
    List<BagpipeRun> nodes = twoNodes(data, clusterRun, common);
    BagpipeRun first = nodes.get(0);
    BagpipeRun second = nodes.get(1);
    RunTest.Recorder events = new RunTest.Recorder();
    first.events().subscribe(events);

    RunResult a = first.result().toCompletableFuture().get(3, TimeUnit.MINUTES);
    RunResult b = second.result().toCompletableFuture().get(3, TimeUnit.MINUTES);
    events.await();
    assertEquals(2, a.epochsCompleted());
    assertEquals(a.lastCheckpoint(), b.lastCheckpoint(), "both nodes saw the same end of the run");
    assertEquals(2, events.of(RunEvent.WorkerJoined.class).size());
    for (RunEvent.EpochCompleted e : events.of(RunEvent.EpochCompleted.class)) {
      // The Coordinator compared both replicas' parameter digests (a mismatch fails the run).
      assertTrue(e.record().extras().containsKey("replica_digest"));
      assertEquals(12, e.record().trainBags());
      assertEquals(4, e.record().valBags(), "each validation bag evaluated exactly once over the nodes");
    }

    Path oneNode = dir.resolve("one-node-" + transport);
    RunResult single = RunTest.run(Bagpipe.start(TrainingFixtures.config(data, oneNode,
        "bagpipe.train.epochs=2", "bagpipe.plan.bags-per-step=2")), new RunTest.Recorder());
    assertEquals(2, single.epochsCompleted());
    List<NamedTensor> pc = RunTest.latest(clusterRun).parameters();
    List<NamedTensor> ps = RunTest.latest(oneNode).parameters();
    double maxDiff = 0;
    for (int i = 0; i < pc.size(); i++) {
      for (int j = 0; j < pc.get(i).data().length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(pc.get(i).data()[j] - ps.get(i).data()[j]));
      }
    }
    assertTrue(maxDiff < 1e-5, "2 nodes x 1 worker == 1 node x 1 worker x 2 bags per step, max |diff| = " + maxDiff);
  }

  /**
   * Ten times the demo's slides (240) over two nodes: bags are dealt step by step and
   * validation in batches, so no message grows with the data set, and every bag of the
   * epoch is accounted for.
   */
  @org.junit.jupiter.api.Test
  void aDataSetTenTimesTheDemosTrainsOverTwoNodesWithEveryBagAccountedFor() throws Exception {
    Path big = TrainingFixtures.dataSet(dir.resolve("big-data"), 240);
    Path run = dir.resolve("big-run");
    List<BagpipeRun> nodes = twoNodes(big, run, "bagpipe.cluster.port=0", "bagpipe.cluster.min-workers=2",
        "bagpipe.cluster.system-name=bagpipe-big", "bagpipe.plan.bag-size=16", "bagpipe.plan.bag-num=3");
    RunTest.Recorder events = new RunTest.Recorder();
    nodes.get(0).events().subscribe(events);
    RunResult r = nodes.get(0).result().toCompletableFuture().get(5, TimeUnit.MINUTES);
    nodes.get(1).result().toCompletableFuture().get(1, TimeUnit.MINUTES);
    events.await();
    assertEquals(1, r.epochsCompleted());
    var x = r.last().extras();
    assertEquals(540L, ((Number) x.get("ledger_bags_planned")).longValue(), "180 training slides x 3 bags");
    assertEquals(540L, ((Number) x.get("ledger_bags_committed")).longValue());
    assertEquals(180L, ((Number) x.get("ledger_val_scored")).longValue(), "60 validation slides x 3 bags");
    assertEquals(540, r.last().trainBags());
  }

  /**
   * A node told to join a run whose seed is gone gives up after
   * {@code bagpipe.cluster.join-timeout} and says that it never joined, rather than
   * that it was downed.
   */
  @org.junit.jupiter.api.Test
  void aJoinerWhoseSeedIsGoneSaysItNeverJoined() throws Exception {
    int closed;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      closed = s.getLocalPort();
    }
    BagpipeRun node = Bagpipe.startNode(TrainingFixtures.config(data, dir.resolve("lonely"),
        "bagpipe.cluster.port=0", "bagpipe.cluster.system-name=bagpipe-lonely", "bagpipe.cluster.joining=true",
        "bagpipe.cluster.join-timeout=3s", "bagpipe.cluster.seed-nodes=[\"127.0.0.1:" + closed + "\"]"));
    var e = org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.ExecutionException.class,
        () -> node.result().toCompletableFuture().get(60, TimeUnit.SECONDS));
    assertTrue(e.getCause().getMessage().contains("never joined the cluster"), e.getCause().getMessage());
    assertTrue(e.getCause().getMessage().contains("bagpipe.cluster.join-timeout"), e.getCause().getMessage());
    node.terminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }
}
