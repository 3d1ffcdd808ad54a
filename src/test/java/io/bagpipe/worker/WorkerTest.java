package io.bagpipe.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.allreduce.LocalRing;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import io.bagpipe.bag.BagRef;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.loader.BagBuffers;
import io.bagpipe.loader.DecodedBag;
import io.bagpipe.loader.LoaderPool;
import io.bagpipe.loader.LoaderTesting;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkerTest {

  static final ActorTestKit kit = ActorTestKit.create();

  @TempDir Path dir;

  /** The Coordinator the tests' workers follow. */
  static final Worker.Issuer BOSS = Worker.Issuer.draw();

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
  }

  /** A replica that counts what it was asked to do; a gradient of one float = bags trained. */
  static final class CountingReplica implements Replica {
    final AtomicInteger accumulated = new AtomicInteger();
    final AtomicInteger applied = new AtomicInteger();
    final AtomicInteger discarded = new AtomicInteger();
    int pending;

    @Override
    public BagOutcome accumulate(DecodedBag bag) {
      accumulated.incrementAndGet();
      pending++;
      return new BagOutcome(0.5, null, 1, 1, 1);
    }

    @Override
    public int gradientLength() {
      return 1;
    }

    @Override
    public void gradient(float[] into) {
      into[0] = pending;
    }

    @Override
    public void apply(float[] average, long globalStep) {
      applied.incrementAndGet();
      pending = 0;
    }

    @Override
    public void discard() {
      discarded.incrementAndGet();
      pending = 0;
    }

    @Override
    public BagOutcome evaluate(DecodedBag bag) {
      return new BagOutcome(0.1, new float[] {0.3f, 0.7f}, 1, 1, 0);
    }

    @Override
    public long parameterDigest() {
      return 1;
    }

    @Override
    public List<NamedTensor> parameters() {
      return List.of();
    }

    @Override
    public List<NamedTensor> optimizerState() {
      return List.of();
    }

    @Override
    public void load(List<NamedTensor> parameters, List<NamedTensor> optimizerState) {}

    @Override
    public void close() {}
  }

  static BagRef bag(long key) {
    return new BagRef("s" + key, "/nowhere/s" + key + ".tif", (int) (key % 2), new int[] {0, 0}, 8, 0, 0, key);
  }

  @Test
  void pullsAtMostPrefetchBagsAheadAndTrainsInPlanOrder() {
    TestProbe<LoaderPool.Command> loaders = kit.createTestProbe();
    TestProbe<Worker.Reply> coordinator = kit.createTestProbe();
    CountingReplica replica = new CountingReplica();
    WorkerMeter meter = new WorkerMeter();
    ActorRef<Worker.Command> worker = kit.spawn(Worker.create(new Worker.Setup("cpu", () -> replica,
        new LocalRing().worker(), loaders.getRef(), 2, dir, 2, ServiceKey.create(Worker.Command.class, "test-workers"),
        meter, IssuerSeal.NONE)));
    worker.tell(new Worker.Introduce(BOSS, Worker.Proof.NONE, coordinator.getRef()));
    Worker.WorkerReady ready = coordinator.expectMessageClass(Worker.WorkerReady.class);
    assertEquals("cpu", ready.device());
    assertEquals(-1, meter.rank());
    worker.tell(new Worker.JoinRing(BOSS, 1, 0, List.of(ready.address()), 0, coordinator.getRef()));
    assertEquals(new Worker.RingJoined(1, 0), coordinator.expectMessageClass(Worker.RingJoined.class));
    for (int s = 0; s < 5; s++) {
      worker.tell(new Worker.TrainStep(BOSS, 1, 0, s, s, List.of(bag(2L * s), bag(2L * s + 1)), coordinator.getRef()));
    }

    BagBuffers buffers = new BagBuffers(4);
    List<LoaderPool.LoadBag> asked = new ArrayList<>();
    asked.add(loaders.expectMessageClass(LoaderPool.LoadBag.class));
    asked.add(loaders.expectMessageClass(LoaderPool.LoadBag.class));
    loaders.expectNoMessage(Duration.ofMillis(200)); // never more than prefetch-bags ahead
    assertEquals(List.of(0L, 1L), asked.stream().map(m -> m.bag().key()).toList());

    // Answer out of order: the worker still trains bag 0 first, and asks for one more per bag used.
    asked.get(1).replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(asked.get(1).bag(), buffers)));
    loaders.expectNoMessage(Duration.ofMillis(100));
    asked.get(0).replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(asked.get(0).bag(), buffers)));
    Worker.StepDone first = coordinator.expectMessageClass(Worker.StepDone.class);
    assertEquals(0, first.step());
    assertEquals(2, first.bags());
    assertEquals(2, first.stepBags());

    // A bag that fails is reported and weighs nothing; its step still completes.
    for (int served = 2; served < 10; served++) {
      LoaderPool.LoadBag m = loaders.expectMessageClass(LoaderPool.LoadBag.class);
      assertEquals(served, m.bag().key());
      if (served == 5) {
        m.replyTo().tell(new LoaderPool.BagFailed(m.bag(), "slide 's5' cannot be read"));
      } else {
        m.replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(m.bag(), buffers)));
      }
    }
    List<Object> rest = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      rest.add(coordinator.receiveMessage());
    }
    Worker.BagSkipped skipped = (Worker.BagSkipped) rest.stream()
        .filter(m -> m instanceof Worker.BagSkipped).findFirst().orElseThrow();
    assertEquals("s5", skipped.slideId());
    Worker.StepDone step2 = (Worker.StepDone) rest.stream()
        .filter(m -> m instanceof Worker.StepDone d && d.step() == 2).findFirst().orElseThrow();
    assertEquals(1, step2.bags());
    assertEquals(9, replica.accumulated.get());
    assertEquals(5, replica.applied.get());
    assertTrue(buffers.allocations() <= 3, "buffers are reused, not allocated per bag: " + buffers.allocations());
    // The meter counted every applied step and trained bag, in the ring it joined; one rank sends no bytes.
    assertEquals(5, meter.steps());
    assertEquals(9, meter.bags());
    assertEquals(1, meter.generation());
    assertEquals(0, meter.rank());
    assertEquals(1, meter.world());
    assertEquals(0, meter.allReduceBytes());
    long summed = 0;
    for (WorkerMeter.Stage stage : WorkerMeter.Stage.values()) {
      summed += meter.stageNanos(stage);
    }
    assertTrue(meter.stageNanos(WorkerMeter.Stage.ALL_REDUCE) > 0 && summed > 0);
  }

  /** A ring whose every round fails as a lost neighbour makes it fail. */
  static final class BrokenRing implements io.bagpipe.allreduce.AllReduceFactory {
    @Override
    public String address() {
      return "127.0.0.1:1";
    }

    @Override
    public void leave() {}

    @Override
    public java.util.concurrent.CompletionStage<Void> send(String to, long id, TransferWriter body) {
      return java.util.concurrent.CompletableFuture.failedFuture(new java.io.IOException("no data channel"));
    }

    @Override
    public <T> java.util.concurrent.CompletionStage<T> receive(long id, TransferReader<T> reader) {
      return java.util.concurrent.CompletableFuture.failedFuture(new java.io.IOException("no data channel"));
    }

    @Override
    public io.bagpipe.allreduce.AllReduce join(long generation, int rank, List<String> addresses) {
      return new io.bagpipe.allreduce.AllReduce() {
        @Override
        public java.util.concurrent.CompletionStage<Reduced> reduce(int r, long round, float[] g, int w, boolean h) {
          return java.util.concurrent.CompletableFuture.failedFuture(new io.bagpipe.allreduce.RingBrokenException(
              generation, 1, new java.net.InetSocketAddress("127.0.0.1", 2),
              "rank 0 of ring generation " + generation + " lost the connection from its left neighbour, rank 1", null));
        }

        @Override
        public int world() {
          return 2;
        }
      };
    }
  }

  @Test
  void aBrokenRingIsReportedToTheCoordinatorAndTheStepDiscarded() {
    TestProbe<LoaderPool.Command> loaders = kit.createTestProbe();
    TestProbe<Worker.Reply> coordinator = kit.createTestProbe();
    CountingReplica replica = new CountingReplica();
    ActorRef<Worker.Command> worker = kit.spawn(Worker.create(new Worker.Setup("cpu", () -> replica, new BrokenRing(),
        loaders.getRef(), 1, dir, 2, ServiceKey.create(Worker.Command.class, "broken-ring-workers"), new WorkerMeter(),
        IssuerSeal.NONE)));
    worker.tell(new Worker.Introduce(BOSS, Worker.Proof.NONE, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.WorkerReady.class);
    worker.tell(new Worker.JoinRing(BOSS, 4, 0, List.of("127.0.0.1:1", "127.0.0.1:2"), 0, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.RingJoined.class);
    worker.tell(new Worker.TrainStep(BOSS, 4, 3, 7, 70, List.of(bag(0)), coordinator.getRef()));
    worker.tell(new Worker.TrainStep(BOSS, 4, 3, 8, 71, List.of(bag(1)), coordinator.getRef()));
    LoaderPool.LoadBag asked = loaders.expectMessageClass(LoaderPool.LoadBag.class);
    asked.replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(asked.bag(), new BagBuffers(2))));

    Worker.RingBroken broken = coordinator.expectMessageClass(Worker.RingBroken.class);
    assertEquals(0, broken.rank());
    assertEquals(4, broken.generation());
    assertEquals(3, broken.epoch());
    assertEquals(7, broken.step());
    assertEquals(1, broken.peerRank());
    assertTrue(broken.reason().contains("rank 1"), broken.reason());
    assertEquals(1, replica.discarded.get(), "the step's gradient is dropped, never applied");
    assertEquals(0, replica.applied.get());
    coordinator.expectNoMessage(Duration.ofMillis(200)); // no StepDone, no second step
    // the worker is idle and answers, waiting for the Coordinator's decision
    worker.tell(new Worker.Introduce(BOSS, Worker.Proof.NONE, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.WorkerReady.class);
    worker.tell(new Worker.LeaveRing(BOSS, 4, coordinator.getRef()));
    Worker.RingLeft left = coordinator.expectMessageClass(Worker.RingLeft.class);
    assertEquals(new Worker.Applied(4, -1, -1, -1), left.applied());
    assertEquals(worker, left.worker());
  }

  /**
   * Told to leave its ring mid-step, a worker drops the step's gradient and every
   * queued step, gives back the bags decoded for them (also those that arrive later),
   * says which step it applied last, and ignores orders of the old generation; in the
   * next generation it retakes the dropped step's bags.
   */
  @Test
  void leavingARingDropsTheStepInFlightAndItsBagsAndReportsTheLastAppliedStep() {
    TestProbe<LoaderPool.Command> loaders = kit.createTestProbe();
    TestProbe<Worker.Reply> coordinator = kit.createTestProbe();
    CountingReplica replica = new CountingReplica();
    ActorRef<Worker.Command> worker = kit.spawn(Worker.create(new Worker.Setup("cpu", () -> replica, new LocalRing().worker(),
        loaders.getRef(), 3, dir, 2, ServiceKey.create(Worker.Command.class, "leaving-workers"), new WorkerMeter(),
        IssuerSeal.NONE)));
    worker.tell(new Worker.Introduce(BOSS, Worker.Proof.NONE, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.WorkerReady.class);
    worker.tell(new Worker.JoinRing(BOSS, 1, 0, List.of("local"), 10, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.RingJoined.class);
    BagBuffers buffers = new BagBuffers(8);
    worker.tell(new Worker.TrainStep(BOSS, 1, 0, 0, 10, List.of(bag(0)), coordinator.getRef()));
    LoaderPool.LoadBag b0 = loaders.expectMessageClass(LoaderPool.LoadBag.class);
    b0.replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(b0.bag(), buffers)));
    assertEquals(0, coordinator.expectMessageClass(Worker.StepDone.class).step());

    // Step 1 has two bags: one trained, one still decoding; step 2 is queued with its bag decoded.
    worker.tell(new Worker.TrainStep(BOSS, 1, 0, 1, 11, List.of(bag(1), bag(2)), coordinator.getRef()));
    worker.tell(new Worker.TrainStep(BOSS, 1, 0, 2, 12, List.of(bag(3)), coordinator.getRef()));
    List<LoaderPool.LoadBag> asked = List.of(loaders.expectMessageClass(LoaderPool.LoadBag.class),
        loaders.expectMessageClass(LoaderPool.LoadBag.class), loaders.expectMessageClass(LoaderPool.LoadBag.class));
    assertEquals(List.of(1L, 2L, 3L), asked.stream().map(m -> m.bag().key()).toList());
    List<DecodedBag> decoded = new ArrayList<>();
    for (LoaderPool.LoadBag m : List.of(asked.get(0), asked.get(2))) {
      DecodedBag d = LoaderTesting.decoded(m.bag(), buffers);
      decoded.add(d);
      m.replyTo().tell(new LoaderPool.BagLoaded(d));
    }
    worker.tell(new Worker.LeaveRing(BOSS, 1, coordinator.getRef()));
    assertEquals(new Worker.Applied(1, 10, 0, 0), coordinator.expectMessageClass(Worker.RingLeft.class).applied());
    assertEquals(1, replica.discarded.get(), "step 1's partial gradient is dropped");
    assertEquals(1, replica.applied.get());
    DecodedBag late = LoaderTesting.decoded(asked.get(1).bag(), buffers);
    asked.get(1).replyTo().tell(new LoaderPool.BagLoaded(late)); // arrives after the leave
    worker.tell(new Worker.TrainStep(BOSS, 1, 0, 1, 11, List.of(bag(1)), coordinator.getRef())); // an order of the old ring
    loaders.expectNoMessage(Duration.ofMillis(200));
    coordinator.expectNoMessage(Duration.ofMillis(100));

    worker.tell(new Worker.JoinRing(BOSS, 2, 0, List.of("local"), 11, coordinator.getRef()));
    coordinator.expectMessageClass(Worker.RingJoined.class);
    worker.tell(new Worker.TrainStep(BOSS, 2, 0, 1, 11, List.of(bag(1), bag(2)), coordinator.getRef()));
    for (int i = 0; i < 2; i++) {
      LoaderPool.LoadBag m = loaders.expectMessageClass(LoaderPool.LoadBag.class);
      m.replyTo().tell(new LoaderPool.BagLoaded(LoaderTesting.decoded(m.bag(), buffers)));
    }
    Worker.StepDone again = coordinator.expectMessageClass(Worker.StepDone.class);
    assertEquals(1, again.step());
    assertEquals(2, again.generation());
    assertEquals(2, again.bags());
    assertEquals(2, replica.applied.get());
    assertTrue(buffers.allocations() <= 3, "dropped bags gave their buffers back: " + buffers.allocations());
  }
}
