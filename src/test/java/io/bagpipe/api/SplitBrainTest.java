package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.remote.RemoteActorRefProvider;
import org.apache.pekko.remote.transport.ThrottlerTransportAdapter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The link between two training nodes is cut (Artery's test blackhole, both ways):
 * the split-brain resolver keeps the side with the oldest node, which hosts the
 * Coordinator, and downs the other; neither side hangs. The downed side ends its run
 * with a message that says what happened and how to resume; the oldest side misses
 * the other worker's step reports, evicts it and trains on with a ring of its own.
 */
@Timeout(120)
class SplitBrainTest {

  @TempDir static Path dir;

  @Test
  void aCutLinkDownsTheYoungerNodeAndTheOldestTrainsOn() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path run = dir.resolve("run");
    String[] common = {"bagpipe.train.epochs=10000", "bagpipe.cluster.port=0", "bagpipe.cluster.min-workers=2",
        "bagpipe.cluster.system-name=bagpipe-split", "bagpipe.allreduce.timeout=20s",
        "pekko.remote.artery.advanced.test-mode=on", "pekko.cluster.split-brain-resolver.stable-after=2s",
        "pekko.cluster.failure-detector.acceptable-heartbeat-pause=2s"};
    java.util.List<BagpipeRun> nodes = ClusterRunTest.twoNodes(data, run, common);
    BagpipeRun oldest = nodes.get(0);
    BagpipeRun younger = nodes.get(1);
    RunTest.Recorder events = new RunTest.Recorder();
    oldest.events().subscribe(events);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (events.of(RunEvent.EpochCompleted.class).isEmpty()) {
      assertTrue(System.nanoTime() < deadline, "the 2-node run trained an epoch");
      assertTrue(!oldest.result().toCompletableFuture().isDone(), "the run is still going");
      Thread.sleep(50);
    }

    cut(oldest, younger);

    ExecutionException y = assertThrows(ExecutionException.class,
        () -> younger.result().toCompletableFuture().get(60, TimeUnit.SECONDS));
    RunFailedException yf = assertInstanceOf(RunFailedException.class, y.getCause());
    assertTrue(yf.getMessage().contains("was downed and removed from the cluster"), yf.getMessage());
    assertTrue(yf.getMessage().contains("bagpipe.train.resume = true"), yf.getMessage());

    // The oldest side lost the younger node's worker and trains on alone (bagpipe.elastic.min-workers = 1).
    long deadline2 = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (events.of(RunEvent.RingReformed.class).isEmpty()) {
      assertTrue(System.nanoTime() < deadline2, "the oldest side formed a ring of its own");
      assertTrue(!oldest.result().toCompletableFuture().isDone(), "the oldest side goes on");
      Thread.sleep(50);
    }
    RunEvent.RingReformed reformed = events.of(RunEvent.RingReformed.class).getFirst();
    assertEquals(1, reformed.workers());
    assertTrue(reformed.reason().contains("worker-0"), "names the worker it lost: " + reformed.reason());
    int epochs = events.of(RunEvent.EpochCompleted.class).size();
    while (events.of(RunEvent.EpochCompleted.class).size() < epochs + 1) {
      assertTrue(System.nanoTime() < deadline2, "the oldest side completed an epoch alone");
      Thread.sleep(50);
    }
    oldest.stop();
    RunResult r = oldest.result().toCompletableFuture().get(60, TimeUnit.SECONDS);
    assertTrue(r.stopped());
    younger.terminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    oldest.terminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  /** Drops all Artery traffic between the two nodes, both ways, as a failed switch would. */
  private static void cut(BagpipeRun a, BagpipeRun b) throws Exception {
    for (BagpipeRun[] pair : new BagpipeRun[][] {{a, b}, {b, a}}) {
      RemoteActorRefProvider provider = (RemoteActorRefProvider) ((ExtendedActorSystem) system(pair[0])).provider();
      Address other = ((ExtendedActorSystem) system(pair[1])).provider().getDefaultAddress();
      scala.concurrent.Await.result(provider.transport().managementCommand(new ThrottlerTransportAdapter.SetThrottle(
          other, ThrottlerTransportAdapter.bothDirection(), ThrottlerTransportAdapter.blackholeThrottleMode())),
          scala.concurrent.duration.Duration.create(5, TimeUnit.SECONDS));
    }
  }

  private static org.apache.pekko.actor.ActorSystem system(BagpipeRun run) {
    return org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(run.system());
  }
}
