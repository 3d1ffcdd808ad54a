package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.coordinator.Coordinator;
import io.bagpipe.worker.Worker;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An exception in the Coordinator restarts it, and the restarted one takes the run
 * over from the workers; one that keeps failing ends the run with the exception
 * instead of leaving every node waiting.
 */
class CoordinatorRestartTest {

  static final ActorTestKit kit = ActorTestKit.create();

  @TempDir static Path dir;

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
  }

  /** A worker that trained in ring generation 3 up to global step 10 and answers as such. */
  static Behavior<Worker.Command> trainedWorker(AtomicInteger introductions) {
    Worker.Applied applied = new Worker.Applied(3, 10, 0, 4);
    return Behaviors.setup(ctx -> Behaviors.receive(Worker.Command.class)
        .onMessage(Worker.Introduce.class, m -> {
          introductions.incrementAndGet();
          m.replyTo().tell(new Worker.WorkerReady("cpu", "local", ctx.getSelf(), applied));
          return Behaviors.same();
        })
        .onMessage(Worker.LeaveRing.class, m -> {
          m.replyTo().tell(new Worker.RingLeft(0, m.generation(), applied, ctx.getSelf()));
          return Behaviors.same();
        })
        .onAnyMessage(m -> Behaviors.same())
        .build());
  }

  @Test
  void aCoordinatorThatKeepsFailingEndsTheRunWithTheException() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    RunSpec spec = Bagpipe.spec(TrainingFixtures.config(data, dir.resolve("run"), "bagpipe.elastic.deadline-floor=50ms"));
    TestProbe<RunEvent> events = kit.createTestProbe();
    Coordinator.Setup s = spec.coordinatorSetup(events.getRef());
    Coordinator.Setup failing = new Coordinator.Setup(s.train(), s.plan(), s.elastic(), s.data(), s.classes(), s.start(),
        s.maximize(), s.prefetchBags(), s.checkpoint(), s.metrics(), s.faults(), s.quarantine(), s.events(), s.workersKey(), () -> {
          throw new IllegalStateException("injected: the newest checkpoint cannot be read");
        }, s.learningRate(), s.seal());
    AtomicInteger introductions = new AtomicInteger();
    ActorRef<Worker.Command> worker = kit.spawn(trainedWorker(introductions));
    kit.system().receptionist().tell(Receptionist.register(spec.workersKey(), worker));
    kit.spawn(Coordinator.create(failing));

    RunEvent.RunFailed failed = events.fishForMessage(Duration.ofSeconds(30), e -> e instanceof RunEvent.RunFailed
        ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
        : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore()).stream()
        .map(RunEvent.RunFailed.class::cast).findFirst().orElseThrow();
    assertTrue(failed.reason().contains("failed 4 times"), failed.reason());
    assertTrue(failed.reason().contains("injected: the newest checkpoint cannot be read"), failed.reason());
    assertEquals(4, introductions.get(), "each restart took over again from the worker");
  }
}
