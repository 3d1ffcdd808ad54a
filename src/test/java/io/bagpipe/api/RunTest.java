package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.checkpoint.NamedTensor;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whole runs on one node: real loaders, workers, all-reduce, Coordinator and checkpoints. */
class RunTest {

  @TempDir static Path dir;
  static Path data;

  @BeforeAll
  static void data() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
  }

  /** Collects every event; the run's result is awaited separately. */
  static final class Recorder implements Flow.Subscriber<RunEvent> {
    final List<RunEvent> events = Collections.synchronizedList(new ArrayList<>());
    final java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);

    @Override
    public void onSubscribe(Flow.Subscription s) {
      s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(RunEvent e) {
      events.add(e);
    }

    @Override
    public void onError(Throwable t) {
      done.countDown();
    }

    @Override
    public void onComplete() {
      done.countDown();
    }

    <T extends RunEvent> List<T> of(Class<T> type) {
      synchronized (events) {
        return events.stream().filter(type::isInstance).map(type::cast).toList();
      }
    }

    void await() throws InterruptedException {
      assertTrue(done.await(2, TimeUnit.MINUTES), "event stream completes");
    }
  }

  static RunResult run(BagpipeRun run, Recorder rec) throws Exception {
    run.events().subscribe(rec);
    RunResult r = run.result().toCompletableFuture().get(3, TimeUnit.MINUTES);
    rec.await();
    return r;
  }

  static Checkpoint latest(Path runDir) throws Exception {
    return new CheckpointStore(runDir.resolve("checkpoints"), 2).loadLatest().orElseThrow();
  }

  @Test
  void twoCpuWorkersStayIdenticalAndEqualOneWorkerWithTwoBagsPerStep() throws Exception {
    Path twoWorkers = dir.resolve("two-workers");
    Path oneWorker = dir.resolve("one-worker");
    Recorder a = new Recorder();
    RunResult ra = run(Bagpipe.start(TrainingFixtures.config(data, twoWorkers,
        "bagpipe.worker.devices=[cpu,cpu]", "bagpipe.train.epochs=2")), a);
    Recorder b = new Recorder();
    RunResult rb = run(Bagpipe.start(TrainingFixtures.config(data, oneWorker,
        "bagpipe.plan.bags-per-step=2", "bagpipe.train.epochs=2")), b);

    assertEquals(2, ra.epochsCompleted());
    assertEquals(2, rb.epochsCompleted());
    // Both replicas reported the same parameter digest every epoch (else the run fails).
    for (RunEvent.EpochCompleted e : a.of(RunEvent.EpochCompleted.class)) {
      assertTrue(e.record().extras().containsKey("replica_digest"));
      assertEquals(12, e.record().trainBags());
    }
    assertEquals(2, a.of(RunEvent.WorkerJoined.class).size());
    // 12 bags per epoch: 6 steps of 2 bags either way.
    assertEquals(6, a.of(RunEvent.EpochStarted.class).getFirst().steps());
    assertEquals(6, b.of(RunEvent.EpochStarted.class).getFirst().steps());

    List<NamedTensor> pa = latest(twoWorkers).parameters();
    List<NamedTensor> pb = latest(oneWorker).parameters();
    assertEquals(pa.size(), pb.size());
    double maxDiff = 0;
    for (int i = 0; i < pa.size(); i++) {
      assertEquals(pa.get(i).name(), pb.get(i).name());
      float[] x = pa.get(i).data();
      float[] y = pb.get(i).data();
      for (int j = 0; j < x.length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(x[j] - y[j]));
      }
    }
    assertTrue(maxDiff < 1e-5, "two workers x 1 bag == one worker x 2 bags per step, max |diff| = " + maxDiff);
    assertEquals(a.of(RunEvent.EpochCompleted.class).getLast().record().trainLoss(),
        b.of(RunEvent.EpochCompleted.class).getLast().record().trainLoss(), 1e-5);
  }

  @Test
  void eventsArriveInOrderAndMetricsAndCheckpointsAreWritten() throws Exception {
    Path runDir = dir.resolve("events");
    Recorder rec = new Recorder();
    RunResult r = run(Bagpipe.start(TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=2")), rec);
    List<String> kinds = rec.events.stream().map(e -> e.getClass().getSimpleName()).distinct().toList();
    assertEquals("WorkerJoined", kinds.get(0));
    assertEquals("RunStarted", kinds.get(1));
    assertEquals(RunEvent.RunCompleted.class, rec.events.getLast().getClass());
    assertEquals(2, rec.of(RunEvent.EpochCompleted.class).size());
    assertEquals(2, rec.of(RunEvent.CheckpointSaved.class).size());
    assertFalse(r.stopped());
    assertEquals(2, Files.readAllLines(runDir.resolve("metrics.jsonl")).size());
    assertTrue(Files.exists(Path.of(r.lastCheckpoint())));
    assertEquals(2, latest(runDir).state().epoch(), "the last checkpoint points at the next epoch");
    // Validation covers each validation bag exactly once: 2 slides x 2 bags.
    assertEquals(4, r.last().valBags());
    assertTrue(r.last().confusion() != null && r.last().confusion().total() == 2);
  }

  @Test
  void aFreshRunRefusesARunDirectoryWithCheckpoints() throws Exception {
    Path runDir = dir.resolve("reused");
    run(Bagpipe.start(TrainingFixtures.config(data, runDir)), new Recorder());
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> Bagpipe.start(TrainingFixtures.config(data, runDir, "bagpipe.train.resume=false")));
    assertTrue(e.getMessage().contains(runDir.toString()) && e.getMessage().contains("bagpipe.train.resume"), e.getMessage());
  }

  @Test
  void validationFoldsThatMatchNoSlideAreAnErrorNamingTheKey() {
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> Bagpipe.start(TrainingFixtures.config(data, dir.resolve("nofold"), "bagpipe.plan.folds.k=5",
            "bagpipe.plan.folds.train=1234", "bagpipe.plan.folds.val=5")));
    assertTrue(e.getMessage().contains("bagpipe.plan.folds.val"), e.getMessage());
  }

  @Test
  void aBagOfACorruptSlideIsSkippedWithItsNameAndTheRunCompletes() throws Exception {
    Path broken = dir.resolve("broken-data");
    TrainingFixtures.dataSet(broken, 8);
    try (RandomAccessFile f = new RandomAccessFile(broken.resolve("slides/s01.tif").toFile(), "rw")) {
      f.seek(16);
      f.write(new byte[(int) (f.length() / 2)]);
    }
    Recorder rec = new Recorder();
    RunResult r = run(Bagpipe.start(TrainingFixtures.config(broken, dir.resolve("broken-run"),
        "bagpipe.train.max-quarantined=0.2")), rec); // 1 of 8 slides
    List<RunEvent.BagSkipped> skipped = rec.of(RunEvent.BagSkipped.class);
    assertEquals(2, skipped.size(), "both bags of s01 are skipped");
    for (RunEvent.BagSkipped s : skipped) {
      assertEquals("s01", s.slideId());
      assertTrue(s.reason().contains("s01.tif"), s.reason());
    }
    assertEquals(1, r.epochsCompleted());
    assertEquals(10, r.last().trainBags(), "12 bags planned, 2 skipped");
    assertEquals(2, ((Number) r.last().extras().get("skipped_bags")).intValue());
  }
}
