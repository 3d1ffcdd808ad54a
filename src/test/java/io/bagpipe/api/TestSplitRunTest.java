package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.coordinator.TestResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A manifest with a {@code split} column: its test slides are left out of training
 * and validation, and scored once after the last epoch, into the run's
 * {@code test-metrics.json} and {@code test-predictions.csv}.
 */
class TestSplitRunTest {

  @TempDir Path dir;

  @Test
  void theTestSplitIsScoredOnceAfterTheLastEpoch() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 12);
    StringBuilder m = new StringBuilder("slide_id,case_id,label,split\n");
    String[] splits = {"train", "train", "train", "train", "train", "train", "val", "val", "test", "test", "test",
        "test"};
    for (int i = 0; i < 12; i++) {
      m.append(String.format("s%02d,case%02d,%s,%s%n", i, i, i % 2 == 0 ? "normal" : "tumor", splits[i]));
    }
    Files.writeString(data.resolve("manifest.csv"), m);
    Path run = dir.resolve("run");
    BagpipeRun r = Bagpipe.start(TrainingFixtures.config(data, run, "bagpipe.train.epochs=2"));
    RunTest.Recorder events = new RunTest.Recorder();
    r.events().subscribe(events);
    RunResult result = r.result().toCompletableFuture().get(3, TimeUnit.MINUTES);
    events.await();
    assertEquals(2, result.epochsCompleted());

    // Training and validation never saw a test slide.
    assertEquals(6 * 2, result.last().trainBags(), "6 training slides x bag-num 2");
    assertEquals(2 * 2, result.last().valBags(), "2 validation slides x bag-num 2");

    List<RunEvent.TestScored> scored = events.of(RunEvent.TestScored.class);
    assertEquals(1, scored.size(), "scored once");
    TestResult t = scored.getFirst().result();
    assertEquals(2, t.epochs());
    assertEquals(4, t.slides());
    assertEquals(8, t.bags());
    assertTrue(t.auc() >= 0 && t.auc() <= 1, "an AUC over two classes: " + t.auc());
    assertEquals(4, t.confusion().total());

    String json = Files.readString(run.resolve("test-metrics.json"));
    assertTrue(json.contains("\"split\":\"test\"") && json.contains("\"slides\":4"), json);
    List<String> csv = Files.readAllLines(run.resolve("test-predictions.csv"));
    assertEquals("slide_id,label,predicted,p0,p1", csv.getFirst());
    assertEquals(List.of("s08", "s09", "s10", "s11"), csv.subList(1, csv.size()).stream()
        .map(l -> l.split(",")[0]).toList());
    for (String line : csv.subList(1, csv.size())) {
      String[] f = line.split(",");
      assertEquals(1.0, Double.parseDouble(f[3]) + Double.parseDouble(f[4]), 1e-5, line);
    }
    assertFalse(Files.readString(run.resolve("metrics.jsonl")).contains("\"split\""),
        "the per-epoch metrics stay per epoch");
  }
}
