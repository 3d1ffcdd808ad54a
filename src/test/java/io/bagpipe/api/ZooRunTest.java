package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.checkpoint.NamedTensor;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Each zoo pooling trains a real run end to end: two CPU workers, one epoch, its instance-level
 * loss through the worker's training step; the replicas' digests agree (else the run fails) and
 * the checkpoint holds the pooling's own parameters.
 */
class ZooRunTest {

  @RegisterExtension static final TrainingFixtures.Shared DATA = new TrainingFixtures.Shared(8);

  @ParameterizedTest
  @CsvSource({"clam-sb, 06inst1_weight", "clam-mb, 03head_weight", "max-instance, 02inst_weight",
      "transmil, 03attn1_01qkv_weight", "dsmil, 03q2_weight"})
  void trainsOneEpochWithIdenticalReplicas(String pooling, String ownParameter) throws Exception {
    Path runDir = DATA.dir().resolve(pooling);
    RunTest.Recorder rec = new RunTest.Recorder();
    RunResult r = RunTest.run(Bagpipe.start(DATA.twoCpuWorkers(runDir, "bagpipe.model.pooling=" + pooling,
        "bagpipe.model.clam.hidden-dim=32", "bagpipe.model.clam.k-sample=2",
        "bagpipe.model.transmil.dim=32", "bagpipe.model.transmil.heads=4", "bagpipe.model.transmil.landmarks=4",
        "bagpipe.model.dsmil.query-dim=16")), rec);
    assertEquals(1, r.epochsCompleted());
    List<RunEvent.EpochCompleted> epochs = rec.of(RunEvent.EpochCompleted.class);
    assertEquals(1, epochs.size());
    assertTrue(epochs.getFirst().record().extras().containsKey("replica_digest"), "replicas were compared");
    assertEquals(12, epochs.getFirst().record().trainBags());
    double loss = epochs.getFirst().record().trainLoss();
    assertTrue(Double.isFinite(loss) && loss > 0, "train loss " + loss);
    List<NamedTensor> params = RunTest.latest(runDir).parameters();
    assertTrue(params.stream().anyMatch(p -> p.name().endsWith(ownParameter)),
        pooling + "'s parameters are in the checkpoint: " + params.stream().map(NamedTensor::name).toList());
  }
}
