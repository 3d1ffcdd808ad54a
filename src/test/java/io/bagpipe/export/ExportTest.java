package io.bagpipe.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.typesafe.config.Config;
import io.bagpipe.ExternalTools;
import io.bagpipe.TrainingFixtures;
import io.bagpipe.api.Bagpipe;
import io.bagpipe.bag.BagRef;
import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.cli.ConfigOptions;
import io.bagpipe.cli.Main;
import io.bagpipe.loader.DecodedBag;
import io.bagpipe.model.BagStream;
import io.bagpipe.model.EncoderSpec;
import io.bagpipe.model.MilModel;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.OptimizerSettings;
import io.bagpipe.model.PoolingKind;
import io.bagpipe.model.ZooSettings;
import io.bagpipe.slide.Rgb;
import io.bagpipe.slide.Slide;
import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.worker.DjlReplica;
import io.bagpipe.worker.WorkerSettings;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bagpipe export} against PyTorch: the exported weights, loaded strictly into the shipped
 * {@code bagpipe_mil.py} by Debian's python3-torch, give the slide probabilities Bagpipe's own
 * validation forward gives, within 1e-4, on the same uint8 bag.
 */
class ExportTest {

  static final double TOLERANCE = 1e-4;
  static final int P = TrainingFixtures.PATCH;

  @TempDir Path dir;

  @Test
  void aTrainedRunExportsWhatPyTorchScoresLikeBagpipe() throws Exception {
    ExternalTools.requirePythonTorch();
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    Config config = TrainingFixtures.config(data, runDir, "bagpipe.model.encoder=mil-cnn-s",
        "bagpipe.model.pooling=attention", "bagpipe.model.attention-dim=8");
    Bagpipe.start(config).result().toCompletableFuture().get(3, TimeUnit.MINUTES);

    Path out = dir.resolve("export");
    assertEquals(0, Main.commandLine().execute("export", runDir.toString(), "--out", out.toString(),
        "--class-names", "benign,tumour"));
    CheckpointStore store = new CheckpointStore(runDir.resolve("checkpoints"), 2);
    Checkpoint c = store.loadBest().orElseGet(() -> {
      try {
        return store.loadLatest().orElseThrow();
      } catch (IOException e) {
        throw new AssertionError(e);
      }
    });
    String json = Files.readString(out.resolve(ModelExport.CONFIG));
    assertTrue(json.contains("\"class_names\": [\"benign\", \"tumour\"]"), json);
    assertTrue(json.contains("\"attention_dim\": 8"), json);

    ByteBuffer pixels = slidePatches(data.resolve("slides/s03.tif"), 6);
    try (DjlReplica bagpipe = replica(ModelSettings.fromConfig(config.getConfig("bagpipe.model")), config)) {
      bagpipe.load(c.parameters(), c.optimizerState());
      float[] want = bagpipe.evaluate(bag(pixels, 6, 1)).probabilities();
      double diff = compare(List.of(want), List.of(out), pixels, 6)[0];
      System.out.printf("export max |diff| mil-cnn-s attention (trained run): %.3g%n", diff);
    }
  }

  /** Encoder and pooling of each model the next test exports; together they cover every kind. */
  static final String[][] MODELS = {{"mil-cnn-s", "gated-attention"}, {"mil-cnn-s", "mean"}, {"mil-cnn-s", "max"},
      {"resnet18", "attention"}, {"resnet50", "gated-attention"}, {"mil-cnn-s", "clam-sb"}, {"mil-cnn-s", "clam-mb"},
      {"mil-cnn-s", "max-instance"}, {"mil-cnn-s", "transmil"}};

  @Test
  void everyEncoderAndPoolingScoresAlikeAfterATrainingStep() throws Exception {
    ExternalTools.requirePythonTorch();
    Config config = ConfigOptions.defaults(List.of("bagpipe.optimizer.lr=0.001",
        "bagpipe.worker.normalize.mean=[0.5,0.4,0.3]", "bagpipe.worker.normalize.std=[0.2,0.25,0.3]"));
    WorkerSettings worker = WorkerSettings.fromConfig(config.getConfig("bagpipe.worker"), 0);
    ByteBuffer pixels = noise(5, 7);
    List<float[]> want = new java.util.ArrayList<>();
    List<Path> exports = new java.util.ArrayList<>();
    for (String[] m : MODELS) {
      ModelSettings model = new ModelSettings(EncoderSpec.named(m[0], null), PoolingKind.named(m[1]), 16, 3, 5,
          new ZooSettings(new ZooSettings.Clam(24, 8, 0.7, false), 0.5, new ZooSettings.TransMil(16, 4, 8, 6, 33), 8),
          false);
      try (DjlReplica bagpipe = replica(model, config)) {
        // One real training step, so weights leave their seeded start and BatchNorm's running statistics move.
        bagpipe.accumulate(bag(noise(7, 42), 7, 2));
        float[] g = new float[bagpipe.gradientLength()];
        bagpipe.gradient(g);
        bagpipe.apply(g, 0);
        Map<String, String> extras = new java.util.HashMap<>(Map.of("encoder", m[0],
            "pooling", m[1], "classes", "3", "patch_size", Integer.toString(P),
            "normalize_mean", join(worker.mean()), "normalize_std", join(worker.std())));
        model.zoo().asKeys().forEach((k, v) -> extras.put("model." + k, v)); // as a run records them
        RunState state = new RunState(1, 0, 1, 5, "val_auc", Double.NaN, -1, extras);
        Path runDir = dir.resolve("run-" + m[0] + "-" + m[1]);
        new CheckpointStore(runDir.resolve("checkpoints"), 2)
            .saveLast(new Checkpoint(state, bagpipe.parameters(), bagpipe.optimizerState()));
        Path out = dir.resolve("export-" + m[0] + "-" + m[1]);
        assertEquals(0, Main.commandLine().execute("export", runDir.toString(), "--out", out.toString()));
        want.add(bagpipe.evaluate(bag(pixels, 5, 0)).probabilities());
        exports.add(out);
      }
    }
    double[] diffs = compare(want, exports, pixels, 5);
    for (int i = 0; i < MODELS.length; i++) {
      System.out.printf("export max |diff| %s %s (one step): %.3g%n", MODELS[i][0], MODELS[i][1], diffs[i]);
    }
  }

  /**
   * DSMIL predicts with the mean of its bag classifier's and its max-instance probabilities (what
   * {@code bagpipe predict} writes, {@link BagStream}); the export's forward must give the same.
   */
  @Test
  void aDsmilModelScoresAsPredictDoes() throws Exception {
    ExternalTools.requirePythonTorch();
    Config config = ConfigOptions.defaults(List.of("bagpipe.optimizer.lr=0.001", "bagpipe.model.dsmil.query-dim=8",
        "bagpipe.worker.normalize.mean=[0.5,0.4,0.3]", "bagpipe.worker.normalize.std=[0.2,0.25,0.3]"));
    WorkerSettings worker = WorkerSettings.fromConfig(config.getConfig("bagpipe.worker"), 0);
    ModelSettings model = new ModelSettings(new EncoderSpec.MilCnnS(), PoolingKind.DSMIL, 16, 3, 5,
        ModelSettings.fromConfig(config.getConfig("bagpipe.model")).zoo(), false);
    int n = 6;
    ByteBuffer pixels = noise(n, 9);
    float[] want;
    Path out = dir.resolve("export-dsmil");
    try (DjlReplica bagpipe = replica(model, config); NDManager manager = NDManager.newBaseManager()) {
      bagpipe.accumulate(bag(noise(7, 42), 7, 2));
      float[] g = new float[bagpipe.gradientLength()];
      bagpipe.gradient(g);
      bagpipe.apply(g, 0);
      RunState state = new RunState(1, 0, 1, 5, "val_auc", Double.NaN, -1, Map.of("encoder", "mil-cnn-s",
          "pooling", "dsmil", "classes", "3", "patch_size", Integer.toString(P),
          "normalize_mean", join(worker.mean()), "normalize_std", join(worker.std())));
      Path runDir = dir.resolve("run-dsmil");
      new CheckpointStore(runDir.resolve("checkpoints"), 2)
          .saveLast(new Checkpoint(state, bagpipe.parameters(), bagpipe.optimizerState()));
      assertEquals(0, Main.commandLine().execute("export", runDir.toString(), "--out", out.toString()));
      assertTrue(Files.readString(out.resolve(ModelExport.CONFIG)).contains("\"query_dim\": 8"));

      // the same parameters in a model of its own, fed to predict's BagStream
      MilModel m = MilModel.build(model, manager, P);
      Map<String, float[]> byName = new java.util.HashMap<>();
      bagpipe.parameters().forEach(t -> byName.put(t.name(), t.data()));
      for (var p : m.getParameters()) {
        p.getValue().getArray().set(byName.get(p.getKey()));
      }
      float[] x = new float[n * 3 * P * P];
      for (int i = 0; i < n; i++) {
        for (int c = 0; c < 3; c++) {
          for (int j = 0; j < P * P; j++) {
            int u8 = pixels.get((i * P * P + j) * 3 + c) & 0xff;
            x[(i * 3 + c) * P * P + j] = u8 * (1f / (255f * worker.std()[c])) + (-worker.mean()[c] / worker.std()[c]);
          }
        }
      }
      BagStream stream = new BagStream(m, manager);
      try (NDManager scope = manager.newSubManager()) {
        stream.add(scope.create(x, new Shape(n, 3, P, P)));
      }
      float[] logits = stream.finish().logits();
      want = new float[logits.length];
      double total = 0;
      for (float l : logits) {
        total += Math.exp(l);
      }
      for (int c = 0; c < logits.length; c++) {
        want[c] = (float) (Math.exp(logits[c]) / total);
      }
    }
    double diff = compare(List.of(want), List.of(out), pixels, n)[0];
    System.out.printf("export max |diff| mil-cnn-s dsmil (one step, predict's probabilities): %.3g%n", diff);
  }

  @Test
  void safetensorsHeaderAndDataFollowTheFormat() throws IOException {
    Path f = dir.resolve("t.safetensors");
    SafeTensors.write(f, List.of(new SafeTensors.F32("a.weight", new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, -6.5f}),
        new SafeTensors.I64("a.n", new long[0], new long[] {7})), Map.of("format", "pt"));
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
    long n = b.getLong();
    assertEquals(0, (8 + n) % 8, "data starts 8-byte aligned");
    String header = new String(b.array(), 8, (int) n, StandardCharsets.UTF_8).strip();
    assertEquals("{\"__metadata__\":{\"format\":\"pt\"},\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
        + "\"data_offsets\":[0,24]},\"a.n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[24,32]}}", header);
    b.position((int) (8 + n));
    assertEquals(-6.5f, b.getFloat(8 + (int) n + 20));
    assertEquals(7L, b.getLong(8 + (int) n + 24));
    assertEquals(8 + n + 32, Files.size(f));
    assertThrows(IllegalArgumentException.class, () -> SafeTensors.header(List.of(
        new SafeTensors.F32("x", new long[] {1}, new float[1]), new SafeTensors.F32("x", new long[] {1}, new float[1])),
        Map.of()));
  }

  @Test
  void namesFollowTorchvisionAndUnknownOnesAreRefused() {
    assertEquals("encoder.6.bias", TorchNames.of("01encoder_07Conv2d_bias", "mil-cnn-s"));
    assertEquals("encoder.bn1.running_var", TorchNames.of("01encoder_02BatchNorm_runningVar", "resnet18"));
    assertEquals("encoder.layer2.0.downsample.1.weight",
        TorchNames.of("01encoder_07ParallelBlock_02SequentialBlock_02BatchNorm_gamma", "resnet18"));
    assertEquals("encoder.layer4.2.bn3.bias",
        TorchNames.of("01encoder_20ParallelBlock_01SequentialBlock_08BatchNorm_beta", "resnet50"));
    assertEquals("pooling.U.weight", TorchNames.of("02pooling_02U_weight", "resnet50"));
    assertEquals("head.bias", TorchNames.of("03head_bias", "mil-cnn-s"));
    assertEquals("pooling.att.V.weight", TorchNames.of("02pooling_01att_01V_weight", "mil-cnn-s"));
    assertEquals("pooling.inst.1.bias", TorchNames.of("02pooling_06inst1_bias", "mil-cnn-s"));
    assertEquals("pooling.fc.weight", TorchNames.of("02pooling_01fc_weight", "resnet18"));
    assertEquals("pooling.q1.bias", TorchNames.of("02pooling_02q1_bias", "mil-cnn-s"));
    assertEquals("pooling.cls", TorchNames.of("02pooling_cls", "mil-cnn-s"));
    assertEquals("pooling.norm1.weight", TorchNames.of("02pooling_02norm1_gamma", "mil-cnn-s"));
    assertEquals("pooling.attn2.res.weight", TorchNames.of("02pooling_08attn2_03res_weight", "mil-cnn-s"));
    var e = assertThrows(IllegalArgumentException.class,
        () -> TorchNames.of("01encoder_21ParallelBlock_01SequentialBlock_01Conv2d_weight", "resnet50"));
    assertTrue(e.getMessage().contains("01encoder_21ParallelBlock"), e.getMessage());
  }

  @Test
  void theClassNamesComeFromTheRunsClassMapUnlessGiven() {
    Path ckpt = Path.of("run/checkpoints/best.ckpt");
    Map<String, String> extras = Map.of("encoder", "mil-cnn-s", "pooling", "mean", "classes", "2", "patch_size", "32",
        "normalize_mean", "0.5,0.5,0.5", "normalize_std", "0.25,0.25,0.25", "class_map", "normal,tumor");
    assertEquals(List.of("normal", "tumor"),
        ModelExport.of(RunState.start(1, "val_auc", extras), ckpt, null, null, List.of()).classNames());
    assertEquals(List.of("a", "b"),
        ModelExport.of(RunState.start(1, "val_auc", extras), ckpt, null, null, List.of("a", "b")).classNames());
  }

  @Test
  void anUnknownPoolingOrATransMilWithoutItsRecordedSizesIsRefusedByName() {
    Path ckpt = Path.of("run/checkpoints/best.ckpt");
    var unknown = assertThrows(IllegalArgumentException.class, () -> ModelExport.of(RunState.start(1, "val_auc",
        Map.of("encoder", "mil-cnn-s", "pooling", "abmil-2030", "classes", "2", "patch_size", "32")), ckpt,
        new float[3], new float[] {1, 1, 1}, List.of()));
    assertTrue(unknown.getMessage().contains("bagpipe.model.pooling = abmil-2030")
        && unknown.getMessage().contains("best.ckpt"), unknown.getMessage());
    var old = assertThrows(IllegalArgumentException.class, () -> ModelExport.of(RunState.start(1, "val_auc",
        Map.of("encoder", "mil-cnn-s", "pooling", "transmil", "classes", "2", "patch_size", "32")), ckpt,
        new float[3], new float[] {1, 1, 1}, List.of()));
    assertTrue(old.getMessage().contains("model.transmil.landmarks") && old.getMessage().contains("best.ckpt"),
        old.getMessage());
  }

  @Test
  void aCheckpointWithoutModelSettingsOrWithTorchScriptIsRefusedByName() {
    Path ckpt = Path.of("run/checkpoints/best.ckpt");
    var missing = assertThrows(IllegalArgumentException.class, () -> ModelExport.of(
        RunState.start(1, "val_auc", Map.of("encoder", "mil-cnn-s", "pooling", "mean", "classes", "2")), ckpt,
        null, null, List.of()));
    assertTrue(missing.getMessage().contains("--mean"), missing.getMessage());
    var script = assertThrows(IllegalArgumentException.class, () -> ModelExport.of(
        RunState.start(1, "val_auc", Map.of("encoder", "torchscript")), ckpt, null, null, List.of()));
    assertTrue(script.getMessage().contains("TorchScript") && script.getMessage().contains("best.ckpt"));
    assertEquals(2, Main.commandLine().execute("export", dir.resolve("nothing").toString()),
        "--out is required");
    assertEquals(1, Main.commandLine().execute("export", dir.resolve("nothing").toString(), "--out",
        dir.resolve("o").toString()));
  }

  /**
   * Scores {@code pixels} with each export in PyTorch (one Python process for all), asserts each
   * agrees with Bagpipe's validation probabilities {@code want} within {@link #TOLERANCE} and is no
   * saturated 0/1 answer (which would agree whatever the weights), returns the largest differences.
   */
  static double[] compare(List<float[]> want, List<Path> exports, ByteBuffer pixels, int patches) throws Exception {
    Path raw = exports.getFirst().resolve("bag.u8");
    try (FileChannel ch = FileChannel.open(raw, java.nio.file.StandardOpenOption.CREATE,
        java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(pixels.duplicate().rewind());
    }
    List<String> command = new java.util.ArrayList<>(List.of(ExternalTools.PYTHON,
        exports.getFirst().resolve(ModelExport.MODULE).toString()));
    for (Path e : exports) {
      command.addAll(List.of(e.toString(), raw.toString(), Integer.toString(patches)));
    }
    List<String> lines = ExternalTools.run(command).lines().filter(l -> l.startsWith("{\"probabilities\"")).toList();
    assertEquals(exports.size(), lines.size(), "one line per export: " + lines);
    double[] diffs = new double[exports.size()];
    for (int k = 0; k < exports.size(); k++) {
      double[] got = numbers(lines.get(k), "probabilities");
      double[] weights = numbers(lines.get(k), "weights");
      float[] w = want.get(k);
      assertEquals(w.length, got.length, lines.get(k));
      assertEquals(patches, weights.length, lines.get(k));
      assertEquals(1.0, Arrays.stream(weights).sum(), 1e-5, "patch weights sum to 1: " + lines.get(k));
      for (int i = 0; i < w.length; i++) {
        assertTrue(w[i] > 1e-4 && w[i] < 1 - 1e-4, exports.get(k) + ": saturated " + Arrays.toString(w));
        diffs[k] = Math.max(diffs[k], Math.abs(w[i] - got[i]));
      }
      assertTrue(diffs[k] <= TOLERANCE, exports.get(k) + ": Bagpipe " + Arrays.toString(w) + " vs PyTorch "
          + Arrays.toString(got));
    }
    return diffs;
  }

  static double[] numbers(String output, String key) {
    Matcher m = Pattern.compile("\"" + key + "\": \\[([^\\]]*)\\]").matcher(output);
    assertTrue(m.find(), "no " + key + " in:\n" + output);
    return Arrays.stream(m.group(1).split(",")).mapToDouble(s -> Double.parseDouble(s.trim())).toArray();
  }

  static DjlReplica replica(ModelSettings model, Config config) {
    return new DjlReplica(model, OptimizerSettings.fromConfig(config.getConfig("bagpipe.optimizer")),
        WorkerSettings.fromConfig(config.getConfig("bagpipe.worker"), 0), "cpu", P);
  }

  static DecodedBag bag(ByteBuffer pixels, int patches, int label) {
    ByteBuffer px = ByteBuffer.allocateDirect(pixels.capacity());
    px.put(pixels.duplicate().rewind()).flip();
    return DecodedBag.inMemory(new BagRef("s", "s.tif", label, new int[2 * patches], P, 0, 0, 1), px);
  }

  /** Real pixels: {@code patches} 64-px patches read from a slide through OpenSlide. */
  static ByteBuffer slidePatches(Path slide, int patches) {
    ByteBuffer px = ByteBuffer.allocate(patches * P * P * 3);
    try (Slide s = Slide.open(slide, new Rgb(255, 255, 255), SlideDecoder.OPENSLIDE)) {
      for (int i = 0; i < patches; i++) {
        s.readRegion(0, 10 + 80L * i, 30 + 50L * (i % 3), P, P, px);
      }
    }
    return px.flip();
  }

  static ByteBuffer noise(int patches, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    byte[] b = new byte[patches * P * P * 3];
    for (int i = 0; i < b.length; i++) {
      b[i] = (byte) r.nextInt(256);
    }
    return ByteBuffer.wrap(b);
  }

  static String join(float[] v) {
    return v[0] + "," + v[1] + "," + v[2];
  }
}
