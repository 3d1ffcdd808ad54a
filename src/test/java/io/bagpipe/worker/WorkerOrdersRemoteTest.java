package io.bagpipe.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.bagpipe.allreduce.LocalRing;
import io.bagpipe.loader.LoaderPool;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Between cluster nodes, as between a Coordinator's node and a worker's: orders travel
 * through Kryo with their issuer, the worker's death watch reaches the Coordinator's
 * message adapter on another node, and a worker whose Coordinator's node leaves follows
 * the Coordinator that introduced itself meanwhile (a singleton taking over).
 */
class WorkerOrdersRemoteTest {

  @TempDir Path dir;

  private final List<ActorTestKit> kits = new java.util.ArrayList<>();

  @AfterEach
  void stop() {
    kits.forEach(ActorTestKit::shutdownTestKit);
  }

  private ActorTestKit node() {
    Config c = ConfigFactory.parseString("""
        pekko.actor.provider = cluster
        pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
        pekko.coordinated-shutdown.phases.cluster-exiting.timeout = 3 s
        pekko.actor.allow-java-serialization = off
        pekko.actor.serialize-messages = on
        pekko.remote.artery.canonical.hostname = 127.0.0.1
        pekko.remote.artery.canonical.port = 0
        pekko.loglevel = WARNING
        """).withFallback(ConfigFactory.load());
    ActorTestKit kit = ActorTestKit.create("run", c); // a cluster's nodes share their system's name
    Cluster cluster = Cluster.get(kit.system());
    cluster.manager().tell(new Join(kits.isEmpty() ? cluster.selfMember().address()
        : Cluster.get(kits.getFirst().system()).selfMember().address()));
    kits.add(kit);
    TestProbe<Object> waiting = kit.createTestProbe();
    waiting.awaitAssert(Duration.ofSeconds(20), () -> {
      assertEquals(MemberStatus.up(), cluster.selfMember().status());
      return null;
    });
    return kit;
  }

  /** A stand-in for the Coordinator: introduces itself with a message adapter of its own, as the Coordinator does. */
  static Behavior<Worker.Reply> coordinator(Worker.Issuer issuer, ActorRef<Worker.Command> worker,
      ActorRef<Worker.Reply> seen) {
    return Behaviors.setup(ctx -> {
      ActorRef<Worker.Reply> replies = ctx.messageAdapter(Worker.Reply.class, r -> r);
      worker.tell(new Worker.Introduce(issuer, Worker.Proof.NONE, replies));
      worker.tell(new Worker.JoinRing(issuer, 1, 0, List.of("local"), 0, replies));
      return Behaviors.receive(Worker.Reply.class).onAnyMessage(r -> {
        seen.tell(r);
        return Behaviors.same();
      }).build();
    });
  }

  private static ActorRef<Worker.Command> seenFrom(ActorTestKit from, ActorTestKit at, ActorRef<Worker.Command> w) {
    return ActorRefResolver.get(at.system()).resolveActorRef(
        ActorRefResolver.get(from.system()).toSerializationFormat(w));
  }

  @Test
  void aWorkerFollowsTheCoordinatorOfAnotherNodeOnceItsOwnNodeIsGone() {
    ActorTestKit workerNode = node();
    ActorTestKit oldNode = node();
    ActorTestKit nextNode = node();
    TestProbe<LoaderPool.Command> loaders = workerNode.createTestProbe();
    WorkerMeter meter = new WorkerMeter();
    WorkerTest.CountingReplica replica = new WorkerTest.CountingReplica();
    ActorRef<Worker.Command> worker = workerNode.spawn(Worker.create(new Worker.Setup("cpu", () -> replica,
        new LocalRing().worker(), loaders.getRef(), 2, dir, 2, ServiceKey.create(Worker.Command.class, "remote"),
        meter, IssuerSeal.NONE)), "worker-0");

    TestProbe<Worker.Reply> oldSeen = oldNode.createTestProbe();
    oldNode.spawn(coordinator(Worker.Issuer.draw(), seenFrom(workerNode, oldNode, worker), oldSeen.getRef()));
    oldSeen.expectMessageClass(Worker.WorkerReady.class, Duration.ofSeconds(20));
    assertEquals(new Worker.RingJoined(1, 0), oldSeen.expectMessageClass(Worker.RingJoined.class));

    // Another node's Coordinator, while the first lives: held back, its JoinRing refused.
    TestProbe<Worker.Reply> nextSeen = nextNode.createTestProbe();
    nextNode.spawn(coordinator(Worker.Issuer.draw(), seenFrom(workerNode, nextNode, worker), nextSeen.getRef()));
    nextSeen.expectNoMessage(Duration.ofSeconds(1));
    assertEquals(2, meter.refusedOrders());

    // The first Coordinator's node goes: the worker answers the held introduction.
    oldNode.shutdownTestKit();
    kits.remove(oldNode);
    Worker.WorkerReady ready = nextSeen.expectMessageClass(Worker.WorkerReady.class, Duration.ofSeconds(30));
    assertEquals(1, ready.applied().generation());
  }
}
