package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.bag.BagRef;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.coordinator.EpochRecord;
import io.bagpipe.loader.DecodedBag;
import io.bagpipe.worker.Replica;
import io.bagpipe.worker.ReplicaFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Workers lost mid-epoch: the survivors regroup into a new ring and finish the run,
 * every training bag in exactly one committed step and every validation bag scored
 * once (each epoch's ledger balances), and the same failure at the same step gives
 * the same parameters.
 */
@Timeout(300)
class ElasticRunTest {

  @TempDir static Path dir;
  static Path data;

  /** 24 training bags per epoch (6 slides x 4), 8 validation bags. */
  static final String BAGS = "bagpipe.plan.bag-num=4";

  @BeforeAll
  static void data() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
  }

  /** Every epoch's ledger balances: planned = trained + skipped, validation planned = scored + skipped. */
  static void assertBalanced(EpochRecord r, long trainBags, long valBags) {
    var x = r.extras();
    assertEquals(trainBags, ((Number) x.get("ledger_bags_planned")).longValue(), "epoch " + r.epoch() + ": " + x);
    assertEquals(trainBags, ((Number) x.get("ledger_bags_committed")).longValue(), "epoch " + r.epoch() + ": " + x);
    assertEquals(0L, ((Number) x.get("ledger_bags_skipped")).longValue());
    assertEquals(trainBags, r.trainBags(), "every training bag trained once");
    assertEquals(valBags, ((Number) x.get("ledger_val_scored")).longValue(), "epoch " + r.epoch() + ": " + x);
    assertEquals(valBags, r.valBags(), "every validation bag scored once");
  }

  static final int EPOCHS = 10;

  @Test
  void aNodeLostMidEpochLeavesTheOthersTrainingEveryBagOnce() throws Exception {
    Path run = dir.resolve("three-nodes");
    // Enough epochs to outlast the node's graceful shutdown, which stops its worker only at its end.
    String[] common = {"bagpipe.train.epochs=" + EPOCHS, "bagpipe.plan.bag-num=16", "bagpipe.cluster.port=0",
        "bagpipe.cluster.min-workers=3", "bagpipe.cluster.system-name=bagpipe-elastic", "bagpipe.allreduce.timeout=20s"};
    BagpipeRun first = Bagpipe.startNode(TrainingFixtures.config(data, run, common));
    String seed = first.nodeAddress().orElseThrow();
    List<String> joining = new ArrayList<>(List.of(common));
    joining.add("bagpipe.cluster.seed-nodes=[\"" + seed + "\"]");
    String[] j = joining.toArray(String[]::new);
    BagpipeRun second = Bagpipe.startNode(TrainingFixtures.config(data, run, j));
    BagpipeRun third = Bagpipe.startNode(TrainingFixtures.config(data, run, j));
    RunTest.Recorder events = new RunTest.Recorder();
    first.events().subscribe(events);

    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (events.of(RunEvent.StepCompleted.class).stream().noneMatch(s -> s.epoch() == 1 && s.step() >= 2)) {
      assertTrue(System.nanoTime() < deadline, "the 3-node run reached step 2 of epoch 2");
      assertFalse(first.result().toCompletableFuture().isDone(), "the run is still going");
      Thread.sleep(20);
    }
    third.system().terminate(); // its worker stops mid-epoch, its ring connections close

    RunResult r = first.result().toCompletableFuture().get(2, TimeUnit.MINUTES);
    second.result().toCompletableFuture().get(1, TimeUnit.MINUTES);
    events.await();
    assertEquals(EPOCHS, r.epochsCompleted());
    List<RunEvent.RingReformed> reformed = events.of(RunEvent.RingReformed.class);
    assertEquals(1, reformed.size(), "one regroup: " + reformed);
    assertEquals(2, reformed.getFirst().workers());
    assertEquals(2, reformed.getFirst().generation());
    List<EpochRecord> records = events.of(RunEvent.EpochCompleted.class).stream().map(RunEvent.EpochCompleted::record)
        .toList();
    assertEquals(EPOCHS, records.size());
    long lost = 0;
    for (EpochRecord e : records) {
      assertBalanced(e, 90, 30); // 6 and 2 slides of 15 bags: 16 asked, 15 patches of 4 fit a slide's 60
      lost += ((Number) e.extras().get("workers_lost")).longValue();
    }
    assertEquals(1, lost, "one worker lost over the run");
    assertEquals(2, ((Number) records.getLast().extras().get("workers")).intValue());
    int at = 0;
    while (((Number) records.get(at).extras().get("workers_lost")).intValue() == 0) {
      assertEquals("1", records.get(at).extras().get("ring_generations"));
      at++;
    }
    assertEquals("1-2", records.get(at).extras().get("ring_generations"), "the epoch of the loss");
    String fault = faultLine(run, "lost");
    assertTrue(fault.contains("\"generation\":2,\"workers\":2"), fault);
    for (EpochRecord e : records.subList(at + 1, records.size())) {
      assertEquals("2", e.extras().get("ring_generations"));
    }
  }

  /** Also with the data channel encrypted: the joiner's state then crosses as sealed records, its ring links sealed. */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void aNodeStartedLaterJoinsTheRunHealedFromALivePeer(boolean encrypted) throws Exception {
    Path run = dir.resolve(encrypted ? "joiner-encrypted" : "joiner");
    List<String> settings = new ArrayList<>(List.of("bagpipe.train.epochs=" + EPOCHS, "bagpipe.plan.bag-num=16",
        "bagpipe.cluster.port=0", "bagpipe.cluster.min-workers=2", "bagpipe.cluster.system-name=bagpipe-joiner",
        "bagpipe.allreduce.timeout=20s"));
    if (encrypted) {
      Path secret = dir.resolve("secret");
      java.nio.file.Files.writeString(secret, io.bagpipe.allreduce.ChannelAuth.newSecret() + "\n");
      settings.addAll(List.of("bagpipe.security.secret-file=\"" + secret + "\"", "bagpipe.security.encrypt-data=on",
          "bagpipe.allreduce.transport=tcp"));
    }
    String[] common = settings.toArray(String[]::new);
    BagpipeRun first = Bagpipe.startNode(TrainingFixtures.config(data, run, common));
    List<String> joining = new ArrayList<>(List.of(common));
    joining.add("bagpipe.cluster.seed-nodes=[\"" + first.nodeAddress().orElseThrow() + "\"]");
    String[] j = joining.toArray(String[]::new);
    BagpipeRun second = Bagpipe.startNode(TrainingFixtures.config(data, run, j));
    RunTest.Recorder events = new RunTest.Recorder();
    first.events().subscribe(events);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (events.of(RunEvent.StepCompleted.class).stream().noneMatch(s -> s.epoch() == 1 && s.step() >= 2)) {
      assertTrue(System.nanoTime() < deadline, "the 2-node run reached step 2 of epoch 2");
      Thread.sleep(20);
    }
    BagpipeRun third = Bagpipe.startNode(TrainingFixtures.config(data, run, j));

    RunResult r = first.result().toCompletableFuture().get(2, TimeUnit.MINUTES);
    second.result().toCompletableFuture().get(1, TimeUnit.MINUTES);
    third.result().toCompletableFuture().get(1, TimeUnit.MINUTES);
    events.await();
    assertEquals(EPOCHS, r.epochsCompleted());
    List<RunEvent.RingReformed> reformed = events.of(RunEvent.RingReformed.class);
    assertEquals(1, reformed.size(), "one new ring: " + reformed);
    assertEquals(3, reformed.getFirst().workers());
    assertTrue(reformed.getFirst().reason().contains("healed 1 joining worker"), reformed.getFirst().reason());
    List<EpochRecord> records = events.of(RunEvent.EpochCompleted.class).stream().map(RunEvent.EpochCompleted::record)
        .toList();
    long joined = 0;
    for (EpochRecord e : records) {
      assertBalanced(e, 90, 30);
      joined += ((Number) e.extras().get("workers_joined")).longValue();
    }
    assertEquals(1, joined);
    String fault = faultLine(run, "joined");
    assertTrue(fault.contains("\"heal_start_ms\":") && fault.contains("\"workers\":3"), fault);
    // The Coordinator compared all three replicas' digests at each validation after the join.
    assertEquals(3, ((Number) records.getLast().extras().get("workers")).intValue());
  }

  /**
   * The one line of {@code kind} in the run's fault log, its stages in order: detected,
   * (healed,) ring formed, first step committed.
   */
  static String faultLine(Path run, String kind) throws java.io.IOException {
    List<String> lines = java.nio.file.Files.readAllLines(run.resolve("faults.jsonl")).stream()
        .filter(l -> l.startsWith("{\"kind\":\"" + kind + "\"")).toList();
    assertEquals(1, lines.size(), lines.toString());
    String line = lines.getFirst();
    long detected = field(line, "detected_ms");
    long formed = field(line, "ring_formed_ms");
    long committed = field(line, "committed_ms");
    assertTrue(detected > 0 && detected <= formed && formed <= committed, line);
    return line;
  }

  static long field(String line, String name) {
    var m = java.util.regex.Pattern.compile("\"" + name + "\":(\\d+)").matcher(line);
    assertTrue(m.find(), name + " in " + line);
    return Long.parseLong(m.group(1));
  }

  /** Replicas that crash their worker once, on the first time any of them trains bag {@code key}. */
  static ReplicaFactory crashingOnce(ReplicaFactory real, long key, AtomicBoolean crashed) {
    return device -> {
      Replica r = real.create(device);
      return new Replica() {
        @Override
        public BagOutcome accumulate(DecodedBag bag) {
          if (bag.bag().key() == key && crashed.compareAndSet(false, true)) {
            throw new IllegalStateException("injected crash on bag " + key);
          }
          return r.accumulate(bag);
        }

        @Override
        public int gradientLength() {
          return r.gradientLength();
        }

        @Override
        public void gradient(float[] into) {
          r.gradient(into);
        }

        @Override
        public void apply(float[] average, long globalStep) {
          r.apply(average, globalStep);
        }

        @Override
        public void discard() {
          r.discard();
        }

        @Override
        public BagOutcome evaluate(DecodedBag bag) {
          return r.evaluate(bag);
        }

        @Override
        public long parameterDigest() {
          return r.parameterDigest();
        }

        @Override
        public List<NamedTensor> parameters() {
          return r.parameters();
        }

        @Override
        public List<NamedTensor> optimizerState() {
          return r.optimizerState();
        }

        @Override
        public void load(List<NamedTensor> parameters, List<NamedTensor> optimizerState) {
          r.load(parameters, optimizerState);
        }

        @Override
        public void close() {
          r.close();
        }
      };
    };
  }

  /** Three CPU workers in one JVM for 2 epochs; the worker that trains {@code crashKey} first crashes (if >= 0). */
  static List<NamedTensor> threeWorkers(String name, long crashKey, RunTest.Recorder events) throws Exception {
    Path run = dir.resolve(name);
    var config = TrainingFixtures.config(data, run, "bagpipe.worker.devices=[cpu,cpu,cpu]", "bagpipe.train.epochs=2",
        BAGS);
    RunSpec spec = Bagpipe.spec(config);
    if (crashKey >= 0) {
      spec = new RunSpec(spec.slide(), spec.loader(), spec.worker(), spec.train(), spec.elastic(), spec.plan(),
          spec.checkpoint(), spec.data(), spec.classes(), spec.start(),
          crashingOnce(spec.replicas(), crashKey, new AtomicBoolean()), spec.metrics(), spec.learningRate(),
          spec.metricsEndpoint(), spec.seal());
    }
    RunResult r = RunTest.run(Bagpipe.start(spec, config), events);
    assertEquals(2, r.epochsCompleted());
    return RunTest.latest(run).parameters();
  }

  @Test
  void theSameFailureAtTheSameStepGivesTheSameParameters() throws Exception {
    long key = BagRef.trainingKey(1, 13); // in step 4 of epoch 2 (3 bags a step), rank 1's bag
    RunTest.Recorder a = new RunTest.Recorder();
    List<NamedTensor> pa = threeWorkers("crash-a", key, a);
    RunTest.Recorder b = new RunTest.Recorder();
    List<NamedTensor> pb = threeWorkers("crash-b", key, b);
    List<NamedTensor> clean = threeWorkers("no-crash", -1, new RunTest.Recorder());

    for (RunTest.Recorder rec : List.of(a, b)) {
      assertEquals(1, rec.of(RunEvent.RingReformed.class).size());
      List<EpochRecord> records = rec.of(RunEvent.EpochCompleted.class).stream()
          .map(RunEvent.EpochCompleted::record).toList();
      for (EpochRecord e : records) {
        assertBalanced(e, 24, 8);
      }
      var failed = records.get(1).extras();
      assertEquals(1, ((Number) failed.get("workers_lost")).intValue());
      // The cut step's 3 bags go back, with those of the steps already dealt ahead of it.
      long requeued = ((Number) failed.get("ledger_bags_requeued")).longValue();
      assertTrue(requeued >= 3 && requeued <= 3 * 3 && requeued % 3 == 0, "re-queued: " + failed);
      assertEquals("1-2", failed.get("ring_generations"));
    }
    double maxDiff = 0;
    for (int i = 0; i < pa.size(); i++) {
      float[] x = pa.get(i).data();
      float[] y = pb.get(i).data();
      float[] z = clean.get(i).data();
      for (int k = 0; k < x.length; k++) {
        assertEquals(Float.floatToIntBits(x[k]), Float.floatToIntBits(y[k]),
            "same failure, same step: bit-identical " + pa.get(i).name() + "[" + k + "]");
        maxDiff = Math.max(maxDiff, Math.abs(x[k] - z[k]));
      }
    }
    // Each step averages the same bags with or without the failure; only the summation order differs.
    assertTrue(maxDiff < 1e-4, "the run with a failure trains what the run without one trains: max |diff| " + maxDiff);
  }
}
