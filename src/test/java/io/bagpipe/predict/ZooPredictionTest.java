package io.bagpipe.predict;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import com.typesafe.config.Config;
import io.bagpipe.TrainingFixtures;
import io.bagpipe.api.Bagpipe;
import io.bagpipe.api.RunResult;
import io.bagpipe.bag.BagRef;
import io.bagpipe.bag.DataSettings;
import io.bagpipe.bag.Manifest;
import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.loader.Loader;
import io.bagpipe.model.BagStream;
import io.bagpipe.model.MilModel;
import io.bagpipe.model.PoolingKind;
import io.bagpipe.model.ZooSettings;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideSettings;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Each zoo pooling trained for one epoch from pixels, then predicted: the chunked prediction
 * equals the rebuilt model's own eval-mode forward on the whole slide, and a configuration that
 * says otherwise does not change the architecture the checkpoint records.
 */
class ZooPredictionTest {

  @TempDir static Path dir;
  static Path data;

  /** Small zoo hyper-parameters, all away from reference.conf's, so a rebuild from defaults would not fit. */
  static final String[] ZOO = {"bagpipe.model.attention-dim=8", "bagpipe.model.clam.hidden-dim=12",
      "bagpipe.model.clam.k-sample=2", "bagpipe.model.transmil.dim=16", "bagpipe.model.transmil.heads=4",
      "bagpipe.model.transmil.landmarks=8", "bagpipe.model.dsmil.query-dim=8"};

  @BeforeAll
  static void data() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
  }

  @ParameterizedTest
  @EnumSource(value = PoolingKind.class, names = {"CLAM_SB", "CLAM_MB", "MAX_INSTANCE", "TRANSMIL", "DSMIL"})
  void predictsWhatTheRecordedModelComputes(PoolingKind kind) throws Exception {
    Path runDir = dir.resolve("run-" + kind.configName());
    String[] keys = new String[ZOO.length + 1];
    System.arraycopy(ZOO, 0, keys, 0, ZOO.length);
    keys[ZOO.length] = "bagpipe.model.pooling=" + kind.configName();
    Config config = TrainingFixtures.config(data, runDir, keys);
    RunResult r = Bagpipe.start(config).result().toCompletableFuture().get(3, TimeUnit.MINUTES);
    assertEquals(1, r.epochsCompleted());

    // the user's configuration now names another pooling and other sizes: the checkpoint's records win
    Config other = TrainingFixtures.config(data, runDir, "bagpipe.model.pooling=attention",
        "bagpipe.model.attention-dim=64", "bagpipe.model.clam.hidden-dim=24", "bagpipe.model.transmil.dim=32",
        "bagpipe.model.dsmil.query-dim=16", "bagpipe.model.clam.k-sample=5");
    TrainedModel model = TrainedModel.load(runDir, other);
    assertEquals(kind, model.model().pooling());
    assertEquals(8, model.model().attentionDim());
    ZooSettings zoo = model.model().zoo();
    assertEquals(12, zoo.clam().hiddenDim());
    assertEquals(2, zoo.clam().kSample());
    assertEquals(16, zoo.transMil().dim());
    assertEquals(4, zoo.transMil().heads());
    assertEquals(8, zoo.transMil().landmarks());
    assertEquals(8, zoo.dsmilQueryDim());
    assertEquals(List.of(), model.fromConfiguration());
    assertEquals(List.of(), model.fromReference());

    // a checkpoint written before the zoo's hyper-parameters were recorded: rebuilt with reference.conf's, said so
    Checkpoint recorded = CheckpointStore.read(model.source());
    Map<String, String> older = new HashMap<>(recorded.state().extras());
    older.keySet().removeIf(k -> k.startsWith("model."));
    Path oldFolder = runDir.resolve("old-checkpoints");
    new CheckpointStore(oldFolder, 1).saveBest(new Checkpoint(recorded.state().withExtras(older),
        recorded.parameters(), recorded.optimizerState()));
    TrainedModel old = TrainedModel.load(oldFolder.resolve("best.ckpt"), other);
    assertEquals(ZooSettings.KEYS.stream().map(k -> "bagpipe.model." + k).toList(), old.fromReference());
    assertEquals(ZooSettings.reference(), old.model().zoo());
    assertEquals(kind, old.model().pooling());
    if (kind == PoolingKind.MAX_INSTANCE) { // its zoo key (the loss weight) does not shape the model
      new SlidePredictor(old, "cpu", 4).close();
    } else { // trained with other sizes than reference.conf's: the parameter check names the misfit
      IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> new SlidePredictor(old, "cpu", 4).close());
      assertTrue(e.getMessage().contains("does not fit"), e.getMessage());
    }

    DataSettings ds = DataSettings.fromConfig(config.getConfig("bagpipe.data"));
    List<SlideTask> tasks = SlideTask.of(Manifest.read(ds.manifest(), ds.slides(), ds.slideExtensions())).subList(0, 2);
    Path out = runDir.resolve("predicted");
    SlideSettings slideSettings = SlideSettings.fromConfig(config.getConfig("bagpipe.slide"));
    Prediction.Summary s = Prediction.run(model, tasks, PatchSource.csvFolder(ds.coords()),
        new PredictSettings(5, 0, 0.5f, 3), slideSettings, List.of("cpu"), out, (finished, total, id, error) -> { });
    assertEquals(List.of(), s.failed());
    assertEquals(2, s.predicted().size());

    try (NDManager manager = NDManager.newBaseManager(); SlidePool slides = new SlidePool(slideSettings)) {
      MilModel rebuilt = MilModel.build(model.model(), manager, model.patchSize());
      SlidePredictor.load(rebuilt, model.parameters(), "test");
      for (Prediction.SlideResult result : s.predicted()) {
        SlideTask task = tasks.stream().filter(t -> t.slideId().equals(result.slideId())).findFirst().orElseThrow();
        PatchCoordinates patches = PatchCoordinates.read(ds.coords().resolve(task.slideId() + ".csv"));
        float[][] expected = wholeSlide(rebuilt, manager, model, task, patches, slides, kind);
        double[] probabilities = new double[expected[0].length];
        for (int c = 0; c < probabilities.length; c++) {
          probabilities[c] = expected[0][c];
        }
        assertArrayEquals(probabilities, result.probabilities(), 1e-5, kind + " probabilities of " + task.slideId());
        List<String> rows = Files.readAllLines(out.resolve("attention").resolve(task.slideId() + ".csv"));
        assertEquals(patches.size() + 1, rows.size());
        float[] scores = new float[patches.size()];
        for (int i = 0; i < scores.length; i++) {
          scores[i] = Float.parseFloat(rows.get(i + 1).split(",")[2]);
        }
        assertArrayEquals(expected[1], scores, 1e-5f, kind + " patch weights of " + task.slideId());
      }
    }
  }

  /**
   * The eval-mode forward of {@code model} over all of a slide's patches at once: [class
   * probabilities (DSMIL: the mean of its bag and max-instance probabilities), patch weights].
   */
  static float[][] wholeSlide(MilModel model, NDManager manager, TrainedModel trained, SlideTask task,
      PatchCoordinates patches, SlidePool slides, PoolingKind kind) {
    int n = patches.size();
    int p = trained.patchSize();
    int[] xy = new int[2 * n];
    for (int i = 0; i < n; i++) {
      xy[2 * i] = patches.x(i);
      xy[2 * i + 1] = patches.y(i);
    }
    ByteBuffer pixels = ByteBuffer.allocateDirect(n * 3 * p * p);
    Loader.decodeInto(slides, new BagRef(task.slideId(), task.slide().toString(), 0, xy, p, trained.level(), -1, -1,
        trained.targetMpp()), 0, n, pixels);
    float[] x = new float[n * 3 * p * p];
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < 3; c++) {
        for (int j = 0; j < p * p; j++) {
          int u8 = pixels.get((i * p * p + j) * 3 + c) & 0xff;
          x[(i * 3 + c) * p * p + j] = (u8 / 255f - trained.mean()[c]) / trained.std()[c];
        }
      }
    }
    boolean gradMode = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
    try (NDManager scope = manager.newSubManager()) {
      ParameterStore ps = new ParameterStore(manager, false);
      NDArray bag = scope.create(x, new Shape(n, 3, p, p));
      NDList full = model.forward(ps, new NDList(bag), false);
      double[] probabilities = BagStream.softmax(MilModel.logits(full).toFloatArray());
      if (kind == PoolingKind.DSMIL) {
        NDArray h = model.encoder().forward(ps, new NDList(bag), false).singletonOrThrow();
        float[] maxInstance = model.pooling().forward(ps, new NDList(h), true).get(2).max(new int[] {0}).toFloatArray();
        double[] instance = BagStream.softmax(maxInstance);
        for (int c = 0; c < probabilities.length; c++) {
          probabilities[c] = 0.5 * probabilities[c] + 0.5 * instance[c];
        }
      }
      float[] out = new float[probabilities.length];
      for (int c = 0; c < out.length; c++) {
        out[c] = (float) probabilities[c];
      }
      return new float[][] {out, MilModel.weights(full).toFloatArray()};
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }
}
