package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import io.bagpipe.ExternalTools;
import io.bagpipe.TrainingFixtures;
import io.bagpipe.bag.DataSettings;
import io.bagpipe.bag.Manifest;
import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.coordinator.EpochRecord;
import io.bagpipe.features.FeatureFile;
import io.bagpipe.features.FeatureRows;
import io.bagpipe.model.EncoderSpec;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.PoolingKind;
import io.bagpipe.predict.FeatureExtraction;
import io.bagpipe.predict.PatchSource;
import io.bagpipe.predict.SlideTask;
import io.bagpipe.predict.TrainedModel;
import io.bagpipe.slide.SlideSettings;
import io.jhdf.HdfFile;
import io.jhdf.WritableHdfFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two-stage MIL: feature files of a frozen encoder, then runs that train only pooling and head on
 * them ({@code bagpipe.data.features}), from Bagpipe's {@code .bpf} files and from CLAM-like
 * {@code .h5} files.
 */
class FeatureTrainingTest {

  @TempDir static Path dir;
  static Path data;
  static Path features;

  @BeforeAll
  static void extract() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Config config = TrainingFixtures.config(data, dir.resolve("unused"));
    DataSettings ds = DataSettings.fromConfig(config.getConfig("bagpipe.data"));
    List<SlideTask> tasks = SlideTask.of(Manifest.read(ds.manifest(), ds.slides(), ds.slideExtensions()));
    features = dir.resolve("features");
    FeatureExtraction.run(FeatureExtraction.Encoder.of(
            new ModelSettings(new EncoderSpec.MilCnnS(), PoolingKind.ATTENTION, 8, 2, 1), TrainingFixtures.PATCH, 0, 0,
            new float[] {0.5f, 0.5f, 0.5f}, new float[] {0.25f, 0.25f, 0.25f}),
        tasks, PatchSource.csvFolder(ds.coords()), SlideSettings.fromConfig(config.getConfig("bagpipe.slide")),
        List.of("cpu"), 16, features, (f, t, id, e) -> { });
  }

  static RunResult train(Path runDir, RunTest.Recorder rec, String... extra) throws Exception {
    String[] all = new String[extra.length + 1];
    all[0] = "bagpipe.data.features=" + features;
    System.arraycopy(extra, 0, all, 1, extra.length);
    return RunTest.run(Bagpipe.start(TrainingFixtures.config(data, runDir, all)), rec);
  }

  @Test
  void sampledBagsOfFeatureRowsTrainTheAggregatorAndTheLedgerBalances() throws Exception {
    Path runDir = dir.resolve("sampled");
    RunTest.Recorder rec = new RunTest.Recorder();
    RunResult r = train(runDir, rec, "bagpipe.train.epochs=2", "bagpipe.worker.devices=[cpu,cpu]");
    assertEquals(2, r.epochsCompleted());
    for (RunEvent.EpochCompleted e : rec.of(RunEvent.EpochCompleted.class)) {
      // 6 training slides x 2 bags of 4 rows, 2 validation slides x 2 bags
      ElasticRunTest.assertBalanced(e.record(), 12, 4);
      assertTrue(Double.isFinite(e.record().trainLoss()));
    }
    Checkpoint c = RunTest.latest(runDir);
    assertEquals("features", c.state().extras().get("encoder"));
    assertEquals("64", c.state().extras().get("feature_dim"));
    assertTrue(c.state().extras().get("features_encoder").contains("encoder=mil-cnn-s"),
        c.state().extras().get("features_encoder"));
    for (NamedTensor t : c.parameters()) {
      assertTrue(!t.name().startsWith("01encoder"), "an aggregator has no encoder parameters: " + t.name());
    }
    // predict and export cannot run a model without a patch encoder: they say so
    var e = assertThrows(IllegalArgumentException.class, () -> TrainedModel.load(runDir,
        TrainingFixtures.config(data, runDir)));
    assertTrue(e.getMessage().contains("trained on feature files"), e.getMessage());
  }

  @Test
  void bagsOfAllRowsTrainToo() throws Exception {
    RunTest.Recorder rec = new RunTest.Recorder();
    RunResult r = train(dir.resolve("all"), rec, "bagpipe.plan.bag-size=all");
    assertEquals(1, r.epochsCompleted());
    EpochRecord last = rec.of(RunEvent.EpochCompleted.class).getLast().record();
    ElasticRunTest.assertBalanced(last, 6, 2);
  }

  @Test
  void clamLikeH5FeatureFilesTrain() throws Exception {
    Path h5dir = Files.createDirectories(dir.resolve("clam"));
    Random random = new Random(4);
    for (int i = 0; i < 8; i++) {
      int n = 5 + i;
      float[][] f = new float[n][12];
      int[][] xy = new int[n][2];
      for (int r = 0; r < n; r++) {
        for (int k = 0; k < 12; k++) {
          f[r][k] = (float) random.nextGaussian() + (i % 2) * (k < 3 ? 1f : 0f);
        }
        xy[r] = new int[] {r * 256, 0};
      }
      try (WritableHdfFile h5 = HdfFile.write(h5dir.resolve(String.format("s%02d.h5", i)))) {
        h5.putDataset("features", f);
        h5.putDataset("coords", xy);
      }
    }
    try (FeatureRows rows = FeatureRows.open(h5dir.resolve("s03.h5"))) {
      assertEquals(8, rows.rows());
      assertEquals(12, rows.dim());
      assertEquals(7 * 256, rows.coordinates()[14]);
    }
    RunTest.Recorder rec = new RunTest.Recorder();
    RunResult r = RunTest.run(Bagpipe.start(TrainingFixtures.config(data, dir.resolve("clam-run"),
        "bagpipe.data.features=" + h5dir, "bagpipe.plan.bag-size=all")), rec);
    assertEquals(1, r.epochsCompleted());
    ElasticRunTest.assertBalanced(rec.of(RunEvent.EpochCompleted.class).getLast().record(), 6, 2);
    assertEquals("12", RunTest.latest(dir.resolve("clam-run")).state().extras().get("feature_dim"));
  }

  @Test
  void clamPtFeatureFilesTrain() throws Exception {
    ExternalTools.requirePythonTorch();
    // CLAM's extract_features_fp.py layout: pt_files/<id>.pt = torch.save(features), no coords;
    // here in float32, float16, a dict with coords and a transposed (non-contiguous) tensor
    Path pt = Files.createDirectories(dir.resolve("clam-pt").resolve("pt_files"));
    Path script = Files.writeString(dir.resolve("write_pt.py"), """
        import sys, torch
        g = torch.Generator().manual_seed(4)
        for i in range(8):
            n = 5 + i
            f = torch.randn(n, 12, generator=g)
            f[:, :3] += i % 2
            path = '%s/s%02d.pt' % (sys.argv[1], i)
            if i % 4 == 1:
                torch.save(f.half(), path)
            elif i % 4 == 2:
                torch.save({'features': f, 'coords': torch.arange(2 * n).view(n, 2) * 256}, path)
            elif i % 4 == 3:
                torch.save(f.t().contiguous().t(), path)
            else:
                torch.save(f, path)
        """);
    ExternalTools.run(List.of(ExternalTools.PYTHON, script.toString(), pt.toString()));
    try (FeatureRows rows = FeatureRows.open(pt.resolve("s03.pt"))) {
      assertEquals(8, rows.rows());
      assertEquals(12, rows.dim());
    }
    RunTest.Recorder rec = new RunTest.Recorder();
    RunResult r = RunTest.run(Bagpipe.start(TrainingFixtures.config(data, dir.resolve("pt-run"),
        "bagpipe.data.features=" + pt, "bagpipe.train.epochs=2")), rec);
    assertEquals(2, r.epochsCompleted());
    for (RunEvent.EpochCompleted e : rec.of(RunEvent.EpochCompleted.class)) {
      // bags of 4 rows, at most 2 per slide: training slides of 5..10 rows give 1+1+1+2+2+2, validation 2+2
      ElasticRunTest.assertBalanced(e.record(), 9, 4);
      assertTrue(Double.isFinite(e.record().trainLoss()));
    }
    Checkpoint c = RunTest.latest(dir.resolve("pt-run"));
    assertEquals("12", c.state().extras().get("feature_dim"));
    assertTrue(c.state().extras().get("features_encoder").contains("source=pt"),
        c.state().extras().get("features_encoder"));
  }

  @Test
  void badFeatureFilesAreNamed() throws Exception {
    Path bad = Files.createDirectories(dir.resolve("bad"));
    Path noFeatures = bad.resolve("x.h5");
    try (WritableHdfFile h5 = HdfFile.write(noFeatures)) {
      h5.putDataset("coords", new int[][] {{1, 2}});
    }
    var e = assertThrows(RuntimeException.class, () -> FeatureRows.open(noFeatures));
    assertTrue(e.getMessage().startsWith(noFeatures.toString()) && e.getMessage().contains("no dataset 'features'"),
        e.getMessage());
    Path mismatch = bad.resolve("y.h5");
    try (WritableHdfFile h5 = HdfFile.write(mismatch)) {
      h5.putDataset("features", new float[][] {{1f, 2f}, {3f, 4f}});
      h5.putDataset("coords", new int[][] {{1, 2}});
    }
    e = assertThrows(RuntimeException.class, () -> FeatureRows.open(mismatch));
    assertTrue(e.getMessage().contains(mismatch.toString()) && e.getMessage().contains("'features' has 2 rows"),
        e.getMessage());
    Path pt = Files.writeString(bad.resolve("z.pt"), "PK");
    e = assertThrows(RuntimeException.class, () -> FeatureRows.open(pt));
    assertTrue(e.getMessage().contains(pt.toString()) && e.getMessage().contains("torch.save"), e.getMessage());
    Path truncated = bad.resolve("t.bpf");
    byte[] whole = Files.readAllBytes(features.resolve("s01.bpf"));
    Files.write(truncated, java.util.Arrays.copyOf(whole, whole.length - 4));
    e = assertThrows(RuntimeException.class, () -> FeatureFile.open(truncated));
    assertTrue(e.getMessage().contains(truncated.toString()) && e.getMessage().contains("truncated"), e.getMessage());

    // A slide without a feature file is named, with what to run.
    Path empty = Files.createDirectories(dir.resolve("empty"));
    var missing = assertThrows(RuntimeException.class, () -> Bagpipe.start(TrainingFixtures.config(data,
        dir.resolve("empty-run"), "bagpipe.data.features=" + empty)).result().toCompletableFuture().get());
    String why = missing.getMessage() + (missing.getCause() == null ? "" : missing.getCause().getMessage());
    assertTrue(why.contains("no feature file for slide 's00'") && why.contains("bagpipe features"), why);

    // A data set whose files disagree on D is refused before the run starts, naming the file.
    Path mixed = Files.createDirectories(dir.resolve("mixed"));
    try (var files = Files.list(features)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".bpf")).toList()) {
        Files.copy(f, mixed.resolve(f.getFileName()));
      }
    }
    Files.delete(mixed.resolve("s05.bpf"));
    try (WritableHdfFile h5 = HdfFile.write(mixed.resolve("s05.h5"))) {
      h5.putDataset("features", new float[][] {{1f, 2f}});
      h5.putDataset("coords", new int[][] {{1, 2}});
    }
    var refused = assertThrows(RuntimeException.class, () -> Bagpipe.start(TrainingFixtures.config(data,
        dir.resolve("mixed-run"), "bagpipe.data.features=" + mixed)).result().toCompletableFuture().get());
    String message = refused.getMessage() + (refused.getCause() == null ? "" : refused.getCause().getMessage());
    assertTrue(message.contains("s05.h5") && message.contains("same encoder"), message);
  }
}
