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
import org.apache.pekko.actor.testkit.typed.javadsl.LoggingTestKit;
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
    return spawn(loaders, meter, key, IssuerSeal.NONE);
  }

  private ActorRef<Worker.Command> spawn(TestProbe<LoaderPool.Command> loaders, WorkerMeter meter, String key,
      IssuerSeal seal) {
    WorkerTest.CountingReplica replica = new WorkerTest.CountingReplica();
    return kit.spawn(Worker.create(new Worker.Setup("cpu", () -> replica, new LocalRing().worker(), loaders.getRef(),
        2, dir, 2, ServiceKey.create(Worker.Command.class, key), meter, seal)));
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

    worker.tell(new Worker.Introduce(boss, Worker.Proof.NONE, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.WorkerReady.class);
    worker.tell(new Worker.JoinRing(boss, 1, 0, List.of("local"), 0, coordinator.getRef()));
    assertEquals(new Worker.RingJoined(1, 0), coordinator.expectMessageClass(Worker.RingJoined.class));
    worker.tell(new Worker.TrainStep(boss, 1, 0, 0, 0, List.of(bag(0)), coordinator.getRef()));
    LoaderPool.LoadBag asked = loaders.expectMessageClass(LoaderPool.LoadBag.class);

    // Mid-step (the bag is still decoding) a stranger sends every order, once with its own
    // reply address and once with the Coordinator's, and introduces itself.
    worker.tell(new Worker.Introduce(other, Worker.Proof.NONE, stranger.getRef()));
    worker.tell(new Worker.Introduce(other, Worker.Proof.NONE, null)); // refused, not a crash
    worker.tell(new Worker.Introduce(null, Worker.Proof.NONE, stranger.getRef()));
    List<Worker.Order> forged = Stream.concat(everyOrder(other, stranger.getRef()).stream(),
        everyOrder(other, coordinator.getRef()).stream()).toList();
    forged.forEach(worker::tell);
    stranger.expectNoMessage(QUIET);
    coordinator.expectNoMessage(Duration.ofMillis(50));
    loaders.expectNoMessage(Duration.ofMillis(50)); // no bag of the stranger's TrainStep or Evaluate was asked for
    assertEquals(1 + 3 + forged.size(), meter.refusedOrders());
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
    worker.tell(new Worker.Introduce(boss, Worker.Proof.NONE, coordinator.getRef()));
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

    worker.tell(new Worker.Introduce(old, Worker.Proof.NONE, first.getRef()));
    first.expectMessageClass(Worker.WorkerReady.class);
    worker.tell(new Worker.JoinRing(old, 3, 0, List.of("local"), 10, first.getRef()));
    first.expectMessageClass(Worker.RingJoined.class);
    worker.tell(new Worker.TrainStep(old, 3, 1, 4, 10, List.of(bag(0)), first.getRef()));
    LoaderPool.LoadBag asked = loaders.expectMessageClass(LoaderPool.LoadBag.class);
    asked.replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(asked.bag(), buffers)));
    first.expectMessageClass(Worker.StepDone.class);

    // The same Coordinator, restarted with another reply address, is still followed there.
    worker.tell(new Worker.Introduce(old, Worker.Proof.NONE, restarted.getRef()));
    restarted.expectMessageClass(Worker.WorkerReady.class);
    first.stop(); // its old address going away is no change of Coordinator

    // A new Coordinator introducing itself while the old one lives is held back, its orders refused.
    worker.tell(new Worker.Introduce(newer, Worker.Proof.NONE, next.getRef()));
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
    worker.tell(new Worker.Introduce(thirdIssuer, Worker.Proof.NONE, third.getRef()));
    assertEquals(new Worker.Applied(4, 12, 1, 6), third.expectMessageClass(Worker.WorkerReady.class).applied());
    worker.tell(new Worker.JoinRing(thirdIssuer, 5, 0, List.of("local"), 13, third.getRef()));
    assertEquals(new Worker.RingJoined(5, 0), third.expectMessageClass(Worker.RingJoined.class));
    assertEquals(4, meter.refusedOrders());
  }

  static final String SECRET_KEY = "bagpipe.security.secret-file";

  @Test
  void withTheRunsSecretOnlyAProvedIntroductionIsFollowed() {
    IssuerSeal seal = IssuerSeal.of("0123456789abcdef-run-secret".getBytes(), SECRET_KEY);
    IssuerSeal otherSecret = IssuerSeal.of("0123456789abcdef-another-one".getBytes(), SECRET_KEY);
    TestProbe<LoaderPool.Command> loaders = kit.createTestProbe();
    TestProbe<Worker.Reply> coordinator = kit.createTestProbe();
    TestProbe<Worker.Reply> stranger = kit.createTestProbe();
    Worker.Issuer boss = Worker.Issuer.draw();
    Worker.Issuer other = Worker.Issuer.draw();
    WorkerMeter meter = new WorkerMeter();
    ActorRef<Worker.Command> worker = spawn(loaders, meter, "sealed-workers", seal);

    // A stranger introducing itself first, without the secret, is not followed: no proof, a
    // proof under another secret, a proof of another issuer copied from the run's Coordinator.
    worker.tell(new Worker.Introduce(other, Worker.Proof.NONE, stranger.getRef()));
    worker.tell(new Worker.Introduce(other, otherSecret.prove(other), stranger.getRef()));
    worker.tell(new Worker.Introduce(other, seal.prove(boss), stranger.getRef()));
    worker.tell(new Worker.JoinRing(other, 1, 0, List.of("local"), 0, stranger.getRef()));
    stranger.expectNoMessage(QUIET);
    assertEquals(4, meter.refusedOrders());

    // The run's Coordinator, proving the secret, is followed, and the stranger stays refused.
    worker.tell(new Worker.Introduce(boss, seal.prove(boss), coordinator.getRef()));
    coordinator.expectMessageClass(Worker.WorkerReady.class);
    worker.tell(new Worker.JoinRing(boss, 1, 0, List.of("local"), 0, coordinator.getRef()));
    assertEquals(new Worker.RingJoined(1, 0), coordinator.expectMessageClass(Worker.RingJoined.class));
    worker.tell(new Worker.Stop(other));
    worker.tell(new Worker.Introduce(boss, seal.prove(boss), coordinator.getRef()));
    coordinator.expectMessageClass(Worker.WorkerReady.class);
    assertEquals(5, meter.refusedOrders());

    // A node without the secret refuses a proved introduction instead of training beside the run.
    WorkerMeter open = new WorkerMeter();
    ActorRef<Worker.Command> unsealed = spawn(loaders, open, "unsealed-workers");
    unsealed.tell(new Worker.Introduce(boss, seal.prove(boss), coordinator.getRef()));
    coordinator.expectNoMessage(QUIET);
    assertEquals(1, open.refusedOrders());
  }

  @Test
  void aStrangerThatKeepsSendingIsCountedEveryTimeButLoggedOnlyTenTimes() {
    TestProbe<LoaderPool.Command> loaders = kit.createTestProbe();
    TestProbe<Worker.Reply> coordinator = kit.createTestProbe();
    TestProbe<Worker.Reply> stranger = kit.createTestProbe();
    Worker.Issuer boss = Worker.Issuer.draw();
    Worker.Issuer other = Worker.Issuer.draw();
    WorkerMeter meter = new WorkerMeter();
    ActorRef<Worker.Command> worker = spawn(loaders, meter, "flooded-workers");
    worker.tell(new Worker.Introduce(boss, Worker.Proof.NONE, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.WorkerReady.class);
    // 10 warnings for the first 10 refusals, none for the next 989, one at the 1000th
    LoggingTestKit.warn("refuses").withOccurrences(11).expect(kit.system(), () -> {
      for (int i = 0; i < 1000; i++) {
        worker.tell(new Worker.JoinRing(other, 1, 0, List.of("local"), 0, stranger.getRef()));
      }
      worker.tell(new Worker.Introduce(boss, Worker.Proof.NONE, coordinator.getRef()));
      coordinator.expectMessageClass(Worker.WorkerReady.class); // every order before it was handled
      return null;
    });
    stranger.expectNoMessage(QUIET);
    assertEquals(1000, meter.refusedOrders());
  }

  @Test
  void aSealReadsTheSecretFileAsTheDataChannelDoesAndNamesTheKey() throws Exception {
    Worker.Issuer issuer = Worker.Issuer.draw();
    Path file = dir.resolve("secret");
    Files.writeString(file, "00112233445566778899aabbccddeeff\n");
    IssuerSeal read = IssuerSeal.fromFile(file, SECRET_KEY);
    assertEquals(IssuerSeal.of("00112233445566778899aabbccddeeff".getBytes(), SECRET_KEY).prove(issuer),
        read.prove(issuer), "trailing whitespace is not part of the secret");
    assertTrue(read.enabled());
    assertTrue(!read.prove(issuer).equals(read.prove(Worker.Issuer.draw())), "each issuer has its own proof");
    assertEquals(Worker.Proof.NONE, IssuerSeal.NONE.prove(issuer));
    Files.writeString(file, "short\n");
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> IssuerSeal.fromFile(file, SECRET_KEY));
    assertTrue(e.getMessage().contains(SECRET_KEY) && e.getMessage().contains(file.toString()), e.getMessage());
    e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> IssuerSeal.fromFile(dir.resolve("missing"), SECRET_KEY));
    assertTrue(e.getMessage().contains(SECRET_KEY) && e.getMessage().contains("missing"), e.getMessage());
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
