package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.slide.synth.SyntheticDataSet.SlideSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The witness report: each run's best and final validation AUC from metrics.jsonl, and the data set's witness rate. */
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

  @Test
  void witnessRateCountsPositiveSlidesOnly() {
    List<SlideSummary> slides = List.of(
        new SlideSummary("a", 1, 1, 64, 64, 400, 1, 1, 0),
        new SlideSummary("b", 1, 1, 64, 64, 200, 3, 3, 0),
        new SlideSummary("c", 0, 1, 64, 64, 100, 2, 0, 0));
    BenchWitnessCommand.WitnessRate w = BenchWitnessCommand.WitnessRate.of(slides);
    assertEquals(2, w.positives());
    assertEquals(2.0, w.tumourPerSlide());
    assertEquals(300.0, w.tissuePerSlide());
    assertEquals(4.0 / 600, w.rate(), 1e-12);
    assertEquals(1.0 / 400, w.minRate(), 1e-12);
    assertEquals(3.0 / 200, w.maxRate(), 1e-12);
    assertTrue(w.line().startsWith("witness rate 0.67 % (per positive slide 2.0 tumour of 300 tissue patches"), w.line());
  }
}
