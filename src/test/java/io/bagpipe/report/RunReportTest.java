package io.bagpipe.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.api.Bagpipe;
import io.bagpipe.cli.Main;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bagpipe report} on a real two-epoch run and on malformed input. */
class RunReportTest {

  @TempDir Path dir;

  @Test
  void aRunsReportIsSelfContainedWithPlotsAndTheBestEpoch() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    Bagpipe.start(TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=2")).result().toCompletableFuture()
        .get(3, TimeUnit.MINUTES);
    assertTrue(Files.isRegularFile(runDir.resolve("predictions/val-epoch-0001.csv")), "the run records predictions");
    assertTrue(Files.readString(runDir.resolve("config.conf")).contains("run-dir"));

    assertEquals(0, Main.commandLine().execute("report", runDir.toString()));
    String html = Files.readString(runDir.resolve("report.html"));
    assertFalse(html.contains("http://") || html.contains("https://"), "no external resources");
    Matcher src = Pattern.compile("src=\"([^\"]*)\"").matcher(html);
    int images = 0;
    while (src.find()) {
      assertTrue(src.group(1).startsWith("data:image/png;base64,"), src.group(1));
      BufferedImage img = ImageIO.read(new ByteArrayInputStream(
          Base64.getDecoder().decode(src.group(1).substring("data:image/png;base64,".length()))));
      assertNotNull(img, "embedded PNG decodes");
      images++;
    }
    assertEquals(5, images, "loss, val metrics, stages, throughput, ROC");
    for (String png : List.of("loss", "val-metrics", "stages", "throughput", "roc")) {
      assertNotNull(ImageIO.read(runDir.resolve("report/" + png + ".png").toFile()), png);
    }
    String best = bestEpochLine(Files.readAllLines(runDir.resolve("metrics.jsonl")));
    // Counted from 1, as the command line counts epochs (metrics.jsonl counts from 0).
    assertTrue(html.contains("<h2>Best epoch: " + (Integer.parseInt(best) + 1) + "</h2>"), "best epoch " + best);
    assertTrue(html.contains("Confusion matrix"));
    assertTrue(html.contains("bagpipe") && html.contains("run-dir"), "the configuration is shown");
  }

  /** The epoch with the highest val_auc (later on ties), read independently of RunReport. */
  static String bestEpochLine(List<String> lines) {
    double best = -1;
    String epoch = null;
    for (String l : lines) {
      Matcher a = Pattern.compile("\"val_auc\":([0-9.]+)").matcher(l);
      Matcher e = Pattern.compile("\"epoch\":(\\d+)").matcher(l);
      if (a.find() && e.find() && Double.parseDouble(a.group(1)) >= best) {
        best = Double.parseDouble(a.group(1));
        epoch = e.group(1);
      }
    }
    return epoch;
  }

  @Test
  void aMalformedLineOrMissingMetricsIsNamed() throws Exception {
    var missing = assertThrows(IllegalArgumentException.class, () -> RunReport.write(dir));
    assertTrue(missing.getMessage().contains("metrics.jsonl"), missing.getMessage());
    Files.writeString(dir.resolve("metrics.jsonl"), "{\"epoch\":0,\"train_loss\":0.5}\n{\"epoch\":1,\n");
    var bad = assertThrows(IllegalArgumentException.class, () -> RunReport.write(dir));
    assertTrue(bad.getMessage().contains("line 2"), bad.getMessage());
    assertFalse(Files.exists(dir.resolve("report.html")), "nothing half-written");
  }

  @Test
  void rocStepsThroughTiesAndEndsAtOneOne() throws Exception {
    Path csv = dir.resolve("p.csv");
    Files.writeString(csv, "slide_id,label,bags,p0,p1\na,1,1,0.1,0.9\nb,0,1,0.4,0.6\nc,1,1,0.4,0.6\nd,0,1,0.8,0.2\n");
    List<double[]> roc = RunReport.roc(csv);
    assertEquals(4, roc.size());
    assertEquals(0.5, roc.get(1)[1]);
    assertEquals(0.0, roc.get(1)[0]);
    assertEquals(0.5, roc.get(2)[0]);
    assertEquals(1.0, roc.get(2)[1]);
    assertEquals(1.0, roc.get(3)[0]);
  }
}
