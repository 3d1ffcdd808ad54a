package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A data set given only as slides and a labels CSV with class names and case ids goes
 * through {@code patch}, {@code train}, {@code predict} and {@code report}, each as a user
 * runs it: tissue is found and gridded at 1 µm/px on 0.5 µm/px slides, the model trains on
 * patches read at that magnification, predicts by class name, and the run gets its report.
 */
class SlidesToAnswersTest {

  @TempDir Path dir;

  @Test
  void slidesAndALabelsFileGoThroughPatchTrainPredictAndReport() throws Exception {
    SyntheticDataSet.Result synth = SyntheticDataSet.ensure(new SynthSettings(dir.resolve("synth"), 8, 2048, 2048,
        0.12, 0.35, 0.6, 128, 2, 5, 0.8f, 0.5), line -> {});
    Path slides = synth.dir().resolve("slides");
    // What a lab has: slides, and a spreadsheet of labels by name with the patient of each slide.
    StringBuilder labels = new StringBuilder("slide_id,case_id,label\n");
    List<String> ids = new ArrayList<>();
    for (var s : synth.slides()) {
      ids.add(s.id());
      labels.append(s.id()).append(",patient-").append(ids.size() / 2).append(',')
          .append(s.label() == 1 ? "tumor" : "normal").append('\n');
    }
    Path labelsCsv = Files.writeString(dir.resolve("labels.csv"), labels);

    Path patched = dir.resolve("patched");
    assertEquals(0, Main.commandLine().execute("patch", "--slides", slides.toString(), "--out", patched.toString(),
        "--patch-size", "64", "--target-mpp", "1.0", "--threads", "2"));
    for (String id : ids) {
      assertTrue(Files.readAllLines(patched.resolve("coords").resolve(id + ".csv")).size() > 10, id);
    }

    Path run = dir.resolve("run");
    String[] data = {"--set", "bagpipe.data.dir=" + dir, "--set", "bagpipe.data.manifest=" + labelsCsv,
        "--set", "bagpipe.data.slides=" + slides, "--set", "bagpipe.data.coords=" + patched.resolve("coords")};
    List<String> train = new ArrayList<>(List.of("train", "--set", "bagpipe.train.run-dir=" + run,
        "--set", "bagpipe.train.epochs=1", "--set", "bagpipe.plan.patch-size=64", "--set", "bagpipe.plan.target-mpp=1.0",
        "--set", "bagpipe.plan.bag-size=8", "--set", "bagpipe.plan.bag-num=2", "--set", "bagpipe.plan.folds.k=4",
        "--set", "bagpipe.plan.folds.train=123", "--set", "bagpipe.plan.folds.val=4",
        "--set", "bagpipe.worker.devices=[cpu]", "--set", "bagpipe.worker.intra-op-threads=1"));
    train.addAll(List.of(data));
    assertEquals(0, Main.commandLine().execute(train.toArray(String[]::new)));
    assertEquals("{\"named\":true,\"classes\":[\"normal\",\"tumor\"]}",
        Files.readString(run.resolve("classes.json")).strip());

    Path predicted = dir.resolve("predicted");
    List<String> predict = new ArrayList<>(List.of("predict", "--checkpoint", run.toString(), "--out",
        predicted.toString(), "--set", "bagpipe.worker.devices=[cpu]"));
    predict.addAll(List.of(data));
    assertEquals(0, Main.commandLine().execute(predict.toArray(String[]::new)));
    List<String> rows = Files.readAllLines(predicted.resolve("predictions.csv"));
    assertEquals("slide_id,p_normal,p_tumor,predicted,label,patches", rows.getFirst());
    assertEquals(ids.size(), rows.size() - 1);
    for (String row : rows.subList(1, rows.size())) {
      String[] f = row.split(",");
      assertEquals(1.0, Double.parseDouble(f[1]) + Double.parseDouble(f[2]), 1e-4, row);
      assertTrue(List.of("normal", "tumor").contains(f[3]) && List.of("normal", "tumor").contains(f[4]), row);
      assertEquals(Files.readAllLines(patched.resolve("coords").resolve(f[0] + ".csv")).stream()
          .filter(l -> !l.startsWith("#") && !l.startsWith("x")).count(), Long.parseLong(f[5]), "all its patches");
      assertNotNull(ImageIO.read(predicted.resolve("heatmaps").resolve(f[0] + ".png").toFile()), f[0]);
    }

    assertEquals(0, Main.commandLine().execute("report", run.toString()));
    String html = Files.readString(run.resolve("report.html"));
    assertTrue(html.contains("<img") && !html.contains("http://") && !html.contains("https://"));
    assertTrue(html.contains("<th>normal</th>") && html.contains("<th>tumor</th>"), "the confusion matrix names classes");
    assertTrue(html.contains("<h2>Best epoch: 1</h2>"), "epochs counted from 1, as train prints them");
    try (Stream<Path> pngs = Files.list(run.resolve("report"))) {
      assertTrue(pngs.count() >= 4);
    }
  }

  /** Predict patches a slide that has no coordinate file on the fly, into the output folder. */
  @Test
  void predictPatchesASlideWithoutCoordinatesOnTheFly() throws Exception {
    SyntheticDataSet.Result synth = SyntheticDataSet.ensure(new SynthSettings(dir.resolve("synth"), 4, 1536, 1536,
        0.12, 0.35, 0.6, 64, 2, 9, 0.8f, 0.5), line -> {});
    Path run = dir.resolve("run");
    List<String> train = List.of("train", "--set", "bagpipe.data.dir=" + synth.dir(),
        "--set", "bagpipe.train.run-dir=" + run, "--set", "bagpipe.train.epochs=1",
        "--set", "bagpipe.plan.patch-size=64", "--set", "bagpipe.plan.bag-size=4", "--set", "bagpipe.plan.bag-num=1",
        "--set", "bagpipe.plan.folds.train=1", "--set", "bagpipe.plan.folds.val=2",
        "--set", "bagpipe.worker.devices=[cpu]", "--set", "bagpipe.worker.intra-op-threads=1");
    assertEquals(0, Main.commandLine().execute(train.toArray(String[]::new)));
    String gone = synth.slides().getFirst().id();
    Files.delete(synth.dir().resolve("coords").resolve(gone + ".csv"));
    Path out = dir.resolve("out");
    assertEquals(0, Main.commandLine().execute("predict", "--checkpoint", run.toString(), "--data",
        synth.dir().toString(), "--out", out.toString(), "--set", "bagpipe.worker.devices=[cpu]"));
    List<String> coords = Files.readAllLines(out.resolve("coords").resolve(gone + ".csv"));
    assertTrue(coords.getFirst().startsWith("# bagpipe patch:"), coords.getFirst());
    assertTrue(coords.size() > 10);
    assertTrue(Files.isRegularFile(out.resolve("thumbnails").resolve(gone + ".png")));
    assertEquals(5, Files.readAllLines(out.resolve("predictions.csv")).size(), "4 slides and the header");
  }
}
