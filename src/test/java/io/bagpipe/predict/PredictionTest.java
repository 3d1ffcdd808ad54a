package io.bagpipe.predict;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import io.bagpipe.TrainingFixtures;
import io.bagpipe.api.Bagpipe;
import io.bagpipe.api.RunResult;
import io.bagpipe.bag.DataSettings;
import io.bagpipe.bag.Manifest;
import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.coordinator.ClassificationMetrics;
import io.bagpipe.slide.SlideSettings;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Predict and evaluate with a model freshly trained for one epoch on a tiny data set. */
class PredictionTest {

  @TempDir static Path dir;
  static Path data;
  static Path runDir;
  static Config config;

  @BeforeAll
  static void train() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    runDir = dir.resolve("run");
    config = TrainingFixtures.config(data, runDir, "bagpipe.model.attention-dim=8");
    RunResult r = Bagpipe.start(config).result().toCompletableFuture().get(3, TimeUnit.MINUTES);
    assertEquals(1, r.epochsCompleted());
  }

  @Test
  void theModelComesFromTheRunDirectoryWithTheSettingsItWasTrainedWith() {
    // the configuration now says otherwise: the checkpoint's records win
    Config other = TrainingFixtures.config(data, runDir, "bagpipe.model.attention-dim=64", "bagpipe.plan.patch-size=32");
    TrainedModel m = TrainedModel.load(runDir, other);
    assertEquals(8, m.model().attentionDim());
    assertEquals(TrainingFixtures.PATCH, m.patchSize());
    assertEquals(List.of(), m.fromConfiguration());
    assertTrue(m.source().getFileName().toString().endsWith(".ckpt"), m.source().toString());
  }

  @Test
  void predictsEverySlideReportsTheUnreadableOneAndEvaluates() throws Exception {
    Path broken = dir.resolve("broken");
    TrainingFixtures.dataSet(broken, 8);
    Files.writeString(broken.resolve("slides/s05.tif"), "not a TIFF"); // a corrupt slide among good ones
    DataSettings ds = DataSettings.fromConfig(TrainingFixtures.config(broken, runDir).getConfig("bagpipe.data"));
    List<SlideTask> tasks = SlideTask.of(Manifest.read(ds.manifest(), ds.slides(), ds.slideExtensions()));
    TrainedModel model = TrainedModel.load(runDir, config);
    Path out = dir.resolve("out");
    List<String> seen = new ArrayList<>();
    Prediction.Summary s = Prediction.run(model, tasks, PatchSource.csvFolder(ds.coords()),
        new PredictSettings(5, 200, 0.5f, 3), SlideSettings.fromConfig(config.getConfig("bagpipe.slide")),
        List.of("cpu", "cpu"), out, (finished, total, id, error) -> seen.add(id));

    assertEquals(8, seen.size());
    assertEquals(7, s.predicted().size());
    assertEquals(1, s.failed().size());
    assertEquals("s05", s.failed().getFirst().slideId());
    assertTrue(s.failed().getFirst().error().contains("s05"), s.failed().getFirst().error());
    List<String> errors = Files.readAllLines(out.resolve("errors.csv"));
    assertEquals(2, errors.size());
    assertTrue(errors.get(1).startsWith("s05,"), errors.get(1));

    List<String> rows = Files.readAllLines(out.resolve("predictions.csv"));
    assertEquals("slide_id,p_0,p_1,predicted,label,patches", rows.getFirst());
    assertEquals(8, rows.size());
    for (String row : rows.subList(1, rows.size())) {
      String[] f = row.split(",");
      double p0 = Double.parseDouble(f[1]);
      double p1 = Double.parseDouble(f[2]);
      assertEquals(1.0, p0 + p1, 1e-5, row);
      assertEquals(p1 > p0 ? 1 : 0, Integer.parseInt(f[3]), row);
      assertEquals(Integer.parseInt(f[0].substring(1)) % 2, Integer.parseInt(f[4]), row);
      String id = f[0];
      PatchCoordinates patches = PatchCoordinates.read(ds.coords().resolve(id + ".csv"));
      assertEquals(patches.size(), Integer.parseInt(f[5]));
      List<String> attention = Files.readAllLines(out.resolve("attention").resolve(id + ".csv"));
      assertEquals("x,y,score", attention.getFirst());
      assertEquals(patches.size() + 1, attention.size(), "one attention row per patch of " + id);
      double total = 0;
      for (int i = 1; i < attention.size(); i++) {
        String[] a = attention.get(i).split(",");
        assertEquals(patches.x(i - 1), Integer.parseInt(a[0]));
        assertEquals(patches.y(i - 1), Integer.parseInt(a[1]));
        total += Double.parseDouble(a[2]);
      }
      assertEquals(1.0, total, 1e-4, "attention of " + id + " sums to 1");
      BufferedImage png = ImageIO.read(out.resolve("heatmaps").resolve(id + ".png").toFile());
      assertNotNull(png, "heatmap of " + id + " decodes");
      assertEquals(200, Math.max(png.getWidth(), png.getHeight()));
    }
    assertTrue(Files.notExists(out.resolve("attention/s05.csv")));

    ClassificationMetrics m = Evaluation.write(out, 2, s.predicted(), null, 3);
    String json = Files.readString(out.resolve("metrics.json"));
    double[] scores = new double[s.predicted().size()];
    boolean[] positive = new boolean[scores.length];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = s.predicted().get(i).probabilities()[1];
      positive[i] = s.predicted().get(i).label() == 1;
    }
    double direct = pairwiseAuc(scores, positive);
    assertEquals(direct, number(json, "auc"), 1e-6);
    assertEquals(direct, m.auc(), 1e-12);
    assertEquals(7, (int) number(json, "slides"));
    List<String> roc = Files.readAllLines(out.resolve("roc.csv"));
    assertEquals("fpr,tpr,threshold", roc.getFirst());
    assertTrue(roc.getLast().startsWith("1.000000,1.000000,"), roc.getLast());
    assertNotNull(ImageIO.read(out.resolve("roc.png").toFile()));
    assertNotNull(ImageIO.read(out.resolve("confusion.png").toFile()));
  }

  /** AUC by counting positive/negative pairs: 1 when the positive scores higher, 1/2 on a tie. */
  static double pairwiseAuc(double[] scores, boolean[] positive) {
    double wins = 0;
    int pairs = 0;
    for (int i = 0; i < scores.length; i++) {
      for (int j = 0; j < scores.length; j++) {
        if (positive[i] && !positive[j]) {
          pairs++;
          wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0;
        }
      }
    }
    return wins / pairs;
  }

  static double number(String json, String key) {
    Matcher m = Pattern.compile("\"" + key + "\": ([-0-9.Ee]+)").matcher(json);
    assertTrue(m.find(), key + " in " + json);
    return Double.parseDouble(m.group(1));
  }
}
