package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.checkpoint.NamedTensor;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A ResNet-18 (BatchNorm in every block) trained by two CPU workers: the replicas' running
 * statistics are reduced with the gradients, so both report the same parameter digest (which
 * covers the running statistics) after every epoch, and the run completes.
 */
class BatchNormRunTest {

  @RegisterExtension static final TrainingFixtures.Shared DATA = new TrainingFixtures.Shared(8);

  @Test
  void resNet18OnTwoCpuWorkersKeepsItsReplicasIdentical() throws Exception {
    Path runDir = DATA.dir().resolve("run");
    RunTest.Recorder rec = new RunTest.Recorder();
    // Folds 3 and 4 validate: 4 slides x 3 bags = 3 batches of four, so rank 0 scores two
    // and rank 1 one, and the Coordinator compares both ranks' digests every epoch.
    RunResult r = RunTest.run(Bagpipe.start(DATA.twoCpuWorkers(runDir, "bagpipe.train.epochs=2",
        "bagpipe.model.encoder=resnet18", "bagpipe.plan.patch-size=32",
        "bagpipe.plan.bag-num=3", "bagpipe.plan.folds.train=12", "bagpipe.plan.folds.val=34")), rec);

    assertEquals(2, r.epochsCompleted());
    List<RunEvent.EpochCompleted> epochs = rec.of(RunEvent.EpochCompleted.class);
    assertEquals(2, epochs.size());
    for (RunEvent.EpochCompleted e : epochs) {
      assertTrue(e.record().extras().containsKey("replica_digest"), e.record().extras().toString());
      assertEquals(12, e.record().trainBags());
    }
    // The running statistics moved away from their start (mean 0, variance 1): they were trained.
    List<NamedTensor> params = RunTest.latest(runDir).parameters();
    NamedTensor mean = params.stream().filter(t -> t.name().endsWith("runningMean")).findFirst().orElseThrow();
    double sum = 0;
    for (float v : mean.data()) {
      sum += Math.abs(v);
    }
    assertTrue(sum > 0, "running mean " + mean.name() + " is still all zeros");
  }
}
