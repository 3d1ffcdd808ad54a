package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The witness report reads each run's best and final validation AUC from metrics.jsonl. */
class BenchWitnessCommandTest {

  @Test
  void bestAndFinalAucComeFromTheEpochLines(@TempDir Path dir) throws Exception {
    Path metrics = dir.resolve("metrics.jsonl");
    Files.writeString(metrics, """
        {"epoch":0,"train_loss":0.71,"val_loss":0.69,"val_auc":0.5,"confusion":[[0,4],[0,4]]}
        {"epoch":1,"train_loss":0.65,"val_loss":0.6,"val_auc":0.875,"confusion":[[3,1],[0,4]]}
        {"epoch":2,"train_loss":0.6,"val_loss":0.62,"val_auc":0.8125,"confusion":[[3,1],[1,3]]}
        """);
    BenchWitnessCommand.Outcome o = BenchWitnessCommand.outcome("clam-sb", metrics, 12.5, 0);
    assertEquals(0.875, o.bestAuc());
    assertEquals(2, o.bestEpoch());
    assertEquals(0.8125, o.finalAuc());
    assertEquals(0.6, o.finalTrainLoss());
    BenchWitnessCommand.Outcome none = BenchWitnessCommand.outcome("attention", dir.resolve("missing.jsonl"), 1, 1);
    assertTrue(Double.isNaN(none.bestAuc()) && Double.isNaN(none.finalAuc()));
  }
}
