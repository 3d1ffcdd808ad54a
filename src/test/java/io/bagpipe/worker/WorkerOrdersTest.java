package io.bagpipe.worker;

import static io.bagpipe.worker.WorkerTest.bag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.allreduce.LocalRing;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.loader.BagBuffers;
import io.bagpipe.loader.LoaderPool;
import io.bagpipe.loader.LoaderTesting;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A worker obeys only the Coordinator it follows: orders of any other issuer are
 * refused, counted and change nothing, and it moves to another Coordinator only once
 * its own stopped.
 */
class WorkerOrdersTest {

  static final ActorTestKit kit = ActorTestKit.create();

  @TempDir Path dir;

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
  }

  private static final Duration QUIET = Duration.ofMillis(200);

  private ActorRef<Worker.Command> spawn(TestProbe<LoaderPool.Command> loaders, WorkerMeter meter, String key) {
    WorkerTest.CountingReplica replica = new WorkerTest.CountingReplica();
    return kit.spawn(Worker.create(new Worker.Setup("cpu", () -> replica, new LocalRing().worker(), loaders.getRef(),
        2, dir, 2, ServiceKey.create(Worker.Command.class, key), meter)));
  }

  /** Every order a stranger could send, each naming {@code from} and replying to {@code replyTo}. */
  private static List<Worker.Order> everyOrder(Worker.Issuer from, ActorRef<Worker.Reply> replyTo) {
    RunState state = RunState.start(7, "val_loss", Map.of());
    return List.of(
        new Worker.JoinRing(from, 9, 0, List.of("local"), 0, replyTo),
        new Worker.TrainStep(from, 1, 0, 1, 1, List.of(bag(50)), replyTo),
        new Worker.Evaluate(from, 1, 0, 0, List.of(bag(51)), replyTo),
        new Worker.SaveCheckpoint(from, state, true, replyTo),
        new Worker.LeaveRing(from, 1, replyTo),
        new Worker.SendState(from, 3, "127.0.0.1:9", state, replyTo),
        new Worker.ReceiveState(from, 4, replyTo),
        new Worker.Stop(from));
  }

  @Test
  void ordersOfAnotherIssuerAreRefusedWhileTheWorkerKeepsTrainingForItsCoordinator() throws Exception {
    TestProbe<LoaderPool.Command> loaders = kit.createTestProbe();
    TestProbe<Worker.Reply> coordinator = kit.createTestProbe();
    TestProbe<Worker.Reply> stranger = kit.createTestProbe();
    Worker.Issuer boss = Worker.Issuer.draw();
    Worker.Issuer other = Worker.Issuer.draw();
    WorkerMeter meter = new WorkerMeter();
    ActorRef<Worker.Command> worker = spawn(loaders, meter, "strangers-workers");

    // Before any introduction a worker follows no one: even a ring order is refused.
    worker.tell(new Worker.JoinRing(boss, 1, 0, List.of("local"), 0, coordinator.getRef()));
    coordinator.expectNoMessage(QUIET);
    assertEquals(1, meter.refusedOrders());

    worker.tell(new Worker.Introduce(boss, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.WorkerReady.class);
    worker.tell(new Worker.JoinRing(boss, 1, 0, List.of("local"), 0, coordinator.getRef()));
    assertEquals(new Worker.RingJoined(1, 0), coordinator.expectMessageClass(Worker.RingJoined.class));
    worker.tell(new Worker.TrainStep(boss, 1, 0, 0, 0, List.of(bag(0)), coordinator.getRef()));
    LoaderPool.LoadBag asked = loaders.expectMessageClass(LoaderPool.LoadBag.class);

    // Mid-step (the bag is still decoding) a stranger sends every order, once with its own
    // reply address and once with the Coordinator's, and introduces itself.
    worker.tell(new Worker.Introduce(other, stranger.getRef()));
    List<Worker.Order> forged = Stream.concat(everyOrder(other, stranger.getRef()).stream(),
        everyOrder(other, coordinator.getRef()).stream()).toList();
    forged.forEach(worker::tell);
    stranger.expectNoMessage(QUIET);
    coordinator.expectNoMessage(Duration.ofMillis(50));
    loaders.expectNoMessage(Duration.ofMillis(50)); // no bag of the stranger's TrainStep or Evaluate was asked for
    assertEquals(1 + 1 + forged.size(), meter.refusedOrders());
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(0, files.count(), "the stranger's SaveCheckpoint wrote nothing");
    }

    // The worker is still training the Coordinator's step, in ring generation 1, not 9.
    asked.replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(asked.bag(), new BagBuffers(2))));
    Worker.StepDone done = coordinator.expectMessageClass(Worker.StepDone.class);
    assertEquals(1, done.generation());
    assertEquals(0, done.step());
    assertEquals(1, meter.generation());
    assertEquals(1, meter.steps());

    // And it still obeys its Coordinator, to the end.
    worker.tell(new Worker.LeaveRing(boss, 1, coordinator.getRef()));
    assertEquals(new Worker.Applied(1, 0, 0, 0), coordinator.expectMessageClass(Worker.RingLeft.class).applied());
    worker.tell(new Worker.Stop(other));
    worker.tell(new Worker.Introduce(boss, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.WorkerReady.class); // still alive after the stranger's Stop
    worker.tell(new Worker.Stop(boss));
    coordinator.expectTerminated(worker);
  }

  @Test
  void aNewCoordinatorIsFollowedOnlyOnceTheOldOneStopped() {
    TestProbe<LoaderPool.Command> loaders = kit.createTestProbe();
    TestProbe<Worker.Reply> first = kit.createTestProbe();
    TestProbe<Worker.Reply> restarted = kit.createTestProbe();
    TestProbe<Worker.Reply> next = kit.createTestProbe();
    Worker.Issuer old = Worker.Issuer.draw();
    Worker.Issuer newer = Worker.Issuer.draw();
    WorkerMeter meter = new WorkerMeter();
    ActorRef<Worker.Command> worker = spawn(loaders, meter, "takeover-workers");
    BagBuffers buffers = new BagBuffers(2);

    worker.tell(new Worker.Introduce(old, first.getRef()));
    first.expectMessageClass(Worker.WorkerReady.class);
    worker.tell(new Worker.JoinRing(old, 3, 0, List.of("local"), 10, first.getRef()));
    first.expectMessageClass(Worker.RingJoined.class);
    worker.tell(new Worker.TrainStep(old, 3, 1, 4, 10, List.of(bag(0)), first.getRef()));
    LoaderPool.LoadBag asked = loaders.expectMessageClass(LoaderPool.LoadBag.class);
    asked.replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(asked.bag(), buffers)));
    first.expectMessageClass(Worker.StepDone.class);

    // The same Coordinator, restarted with another reply address, is still followed there.
    worker.tell(new Worker.Introduce(old, restarted.getRef()));
    restarted.expectMessageClass(Worker.WorkerReady.class);
    first.stop(); // its old address going away is no change of Coordinator

    // A new Coordinator introducing itself while the old one lives is held back, its orders refused.
    worker.tell(new Worker.Introduce(newer, next.getRef()));
    worker.tell(new Worker.LeaveRing(newer, 3, next.getRef()));
    next.expectNoMessage(QUIET);
    assertEquals(2, meter.refusedOrders());
    worker.tell(new Worker.TrainStep(old, 3, 1, 5, 11, List.of(bag(1)), restarted.getRef()));
    asked = loaders.expectMessageClass(LoaderPool.LoadBag.class);
    asked.replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(asked.bag(), buffers)));
    assertEquals(5, restarted.expectMessageClass(Worker.StepDone.class).step());

    // The old Coordinator stops (its node was lost): the held introduction is answered, and the
    // new Coordinator takes the worker over the way Coordinator.takingOver does.
    restarted.stop();
    Worker.WorkerReady ready = next.expectMessageClass(Worker.WorkerReady.class);
    assertEquals(new Worker.Applied(3, 11, 1, 5), ready.applied());
    worker.tell(new Worker.LeaveRing(newer, 3, next.getRef()));
    assertEquals(new Worker.Applied(3, 11, 1, 5), next.expectMessageClass(Worker.RingLeft.class).applied());
    worker.tell(new Worker.JoinRing(newer, 4, 0, List.of("local"), 12, next.getRef()));
    assertEquals(new Worker.RingJoined(4, 0), next.expectMessageClass(Worker.RingJoined.class));
    worker.tell(new Worker.TrainStep(newer, 4, 1, 6, 12, List.of(bag(2)), next.getRef()));
    asked = loaders.expectMessageClass(LoaderPool.LoadBag.class);
    asked.replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(asked.bag(), buffers)));
    Worker.StepDone done = next.expectMessageClass(Worker.StepDone.class);
    assertEquals(4, done.generation());
    assertEquals(6, done.step());

    // The old issuer's orders are now the stranger's.
    worker.tell(new Worker.JoinRing(old, 5, 0, List.of("local"), 13, next.getRef()));
    next.expectNoMessage(QUIET);
    assertEquals(3, meter.refusedOrders());
    assertEquals(4, meter.generation());
    assertEquals(3, meter.steps());

    // With no introduction held, a stopped Coordinator is followed until the next one introduces itself.
    TestProbe<Worker.Reply> third = kit.createTestProbe();
    Worker.Issuer thirdIssuer = Worker.Issuer.draw();
    next.stop();
    worker.tell(new Worker.JoinRing(thirdIssuer, 5, 0, List.of("local"), 13, third.getRef()));
    third.expectNoMessage(QUIET);
    assertEquals(4, meter.refusedOrders());
    worker.tell(new Worker.Introduce(thirdIssuer, third.getRef()));
    assertEquals(new Worker.Applied(4, 12, 1, 6), third.expectMessageClass(Worker.WorkerReady.class).applied());
    worker.tell(new Worker.JoinRing(thirdIssuer, 5, 0, List.of("local"), 13, third.getRef()));
    assertEquals(new Worker.RingJoined(5, 0), third.expectMessageClass(Worker.RingJoined.class));
    assertEquals(4, meter.refusedOrders());
  }

  @Test
  void anIssuerPrintsOnlyAPrefixAndDrawsDistinctValues() {
    Worker.Issuer a = Worker.Issuer.draw();
    Worker.Issuer b = Worker.Issuer.draw();
    assertTrue(!a.equals(b), "two draws differ");
    assertTrue(a.toString().matches("issuer [0-9a-f]{8}"), a.toString());
    assertTrue(!a.toString().contains(Long.toHexString(a.low())), "the log never shows the whole token");
    assertEquals(a, new Worker.Issuer(a.high(), a.low()), "equal by value");
  }
}
