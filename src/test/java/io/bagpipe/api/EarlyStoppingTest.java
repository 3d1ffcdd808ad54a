package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.coordinator.EpochRecord;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Early stopping ends a run whose best metric stops improving, completes it with checkpoints,
 * and a resume of that run stays stopped; the epoch record carries the schedule's learning rate.
 */
class EarlyStoppingTest {

  @TempDir Path dir;

  @Test
  void aRunWithoutImprovementStopsAfterPatienceAndAResumeKeepsTheCount() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    // min-delta 1e9: only the first epoch counts as an improvement, so patience 1 stops after epoch 2.
    String[] keys = {"bagpipe.train.epochs=5", "bagpipe.checkpoint.best-metric=val_loss",
        "bagpipe.checkpoint.best-mode=min", "bagpipe.train.early-stopping.patience=1",
        "bagpipe.train.early-stopping.min-delta=1e9", "bagpipe.optimizer.schedule=step",
        "bagpipe.optimizer.step-epochs=1", "bagpipe.optimizer.gamma=0.5"};
    RunTest.Recorder rec = new RunTest.Recorder();
    RunResult r = RunTest.run(Bagpipe.start(TrainingFixtures.config(data, runDir, keys)), rec);
    assertEquals(2, r.epochsCompleted());
    assertFalse(r.stopped());
    List<RunEvent.EarlyStopped> stops = rec.of(RunEvent.EarlyStopped.class);
    assertEquals(1, stops.size());
    assertEquals(1, stops.getFirst().epoch());
    assertEquals(0, stops.getFirst().improvedEpoch());
    assertEquals(RunEvent.RunCompleted.class, rec.events.getLast().getClass());
    assertTrue(RunTest.latest(runDir).state().epoch() == 2, "the checkpoint after epoch 2 was written");
    // The step schedule halves the rate every epoch: epoch 2's last step trains at half of epoch 1's.
    List<EpochRecord> records = rec.of(RunEvent.EpochCompleted.class).stream().map(RunEvent.EpochCompleted::record)
        .toList();
    double lr0 = records.get(0).metric("lr");
    double lr1 = records.get(1).metric("lr");
    assertEquals(0.01, lr0, 1e-12);
    assertEquals(lr0 / 2, lr1, 1e-12);

    RunTest.Recorder again = new RunTest.Recorder();
    RunResult resumed = RunTest.run(Bagpipe.start(TrainingFixtures.config(data, runDir, keys)), again);
    assertEquals(0, resumed.epochsCompleted(), "a resume of a stopped run trains no further epoch");
    assertEquals(1, again.of(RunEvent.EarlyStopped.class).size());
  }
}
