package io.bagpipe.predict;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.features.FeatureFile;
import io.bagpipe.model.EncoderSpec;
import io.bagpipe.model.MilModel;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.PoolingKind;
import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.slide.SlideFixtures;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.slide.ffm.JpegTileDecoder;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import io.bagpipe.slide.tissue.TissueSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bagpipe features} and {@code bagpipe predict} read slides as {@code bagpipe.slide.decoder}
 * says, and the two decoders give the same answers: on synthetic JPEG-tiled slides, feature files,
 * predictions, attention scores, heatmaps and the coordinates of slides patched on the fly are byte
 * for byte the same with {@code auto} (which must decode JPEG tiles itself) and with {@code openslide}
 * (which must decode none).
 */
class DecoderParityTest {

  @TempDir static Path dir;
  static Path data;
  static List<SlideTask> tasks;

  static final int PATCH = 64;
  static final float[] MEAN = {0.5f, 0.5f, 0.5f};
  static final float[] STD = {0.25f, 0.25f, 0.25f};
  static final ModelSettings MODEL = new ModelSettings(new EncoderSpec.MilCnnS(), PoolingKind.ATTENTION, 8, 2, 5);
  static final SlideSettings AUTO = new SlideSettings(SlideFixtures.WHITE, 4, SlideDecoder.AUTO);
  static final SlideSettings OPENSLIDE = new SlideSettings(SlideFixtures.WHITE, 4, SlideDecoder.OPENSLIDE);

  @BeforeAll
  static void slides() throws Exception {
    if ("true".equalsIgnoreCase(System.getenv("CI"))) {
      assertTrue(JpegTileDecoder.scanlineAvailable(), ".ci/run installs libturbojpeg0 and libjpeg62-turbo");
    }
    assumeTrue(JpegTileDecoder.scanlineAvailable(), "libturbojpeg0 or libjpeg62-turbo is missing; skipping");
    SyntheticDataSet.Result synth = SyntheticDataSet.ensure(
        new SynthSettings(dir.resolve("synth"), 2, 1100, 900, 0.15, 0.4, 0.6, PATCH, 1, 3, 0.9f, 0.5), line -> {});
    data = synth.dir();
    tasks = new ArrayList<>();
    for (SyntheticDataSet.SlideSummary s : synth.slides()) {
      tasks.add(new SlideTask(s.id(), data.resolve("slides").resolve(s.id() + ".tif"), s.label()));
    }
  }

  /** JPEG tiles decoded in this JVM without OpenSlide so far. */
  private static long tiles() {
    long[] c = JpegTileDecoder.decodeCounts();
    return c[0] + c[1];
  }

  @Test
  void featureFilesAreTheSameWithEitherDecoder() throws Exception {
    FeatureExtraction.Encoder encoder = FeatureExtraction.Encoder.of(MODEL, PATCH, 0, 0, MEAN, STD);
    PatchSource coords = PatchSource.csvFolder(data.resolve("coords"));
    Path auto = dir.resolve("features-auto");
    Path openslide = dir.resolve("features-openslide");

    long before = tiles();
    FeatureExtraction.Summary a = FeatureExtraction.run(encoder, tasks, coords, AUTO, List.of("cpu"), 16, auto,
        (f, t, id, e) -> { });
    assertTrue(tiles() > before, "decoder auto decodes the synthetic slides' JPEG tiles itself");
    before = tiles();
    FeatureExtraction.Summary o = FeatureExtraction.run(encoder, tasks, coords, OPENSLIDE, List.of("cpu"), 16,
        openslide, (f, t, id, e) -> { });
    assertEquals(before, tiles(), "decoder openslide leaves every tile to OpenSlide");

    assertEquals(tasks.size(), a.written().size(), a.failed().toString());
    assertEquals(tasks.size(), o.written().size(), o.failed().toString());
    for (SlideTask t : tasks) {
      Path fa = auto.resolve(t.slideId() + ".bpf");
      assertTrue(FeatureFile.open(fa).rows() > 10, t.slideId() + " has patches to compare");
      assertArrayEquals(Files.readAllBytes(openslide.resolve(t.slideId() + ".bpf")), Files.readAllBytes(fa),
          t.slideId() + ": features differ between decoders");
    }
  }

  @Test
  void predictionsAndOnTheFlyPatchesAreTheSameWithEitherDecoder() throws Exception {
    TrainedModel model = seeded(dir.resolve("seeded.ckpt"));
    Path noCoords = Files.createDirectories(dir.resolve("no-coords")); // every slide is patched on the fly
    TissueSettings tissue = new TissueSettings(PATCH, 0.5, 0, 0.5, 64, 7, 4, 4, 2, 8, 256);
    PredictSettings settings = new PredictSettings(16, 120, 0.5f, 3);

    PatchSource autoPatches = PatchSource.filesOrTissue(noCoords, tissue, dir.resolve("patched-auto"), AUTO);
    PatchSource openslidePatches = PatchSource.filesOrTissue(noCoords, tissue, dir.resolve("patched-openslide"),
        OPENSLIDE);
    try (SlidePool metadataOnly = new SlidePool(OPENSLIDE)) { // patching on the fly alone reads as it is told
      long before = tiles();
      autoPatches.locate(tasks.getFirst(), metadataOnly, PATCH, 0, 0);
      assertTrue(tiles() > before, "tissue found on the fly with decoder auto decodes JPEG tiles itself");
      before = tiles();
      openslidePatches.locate(tasks.getFirst(), metadataOnly, PATCH, 0, 0);
      assertEquals(before, tiles(), "tissue found on the fly with decoder openslide leaves every tile to OpenSlide");
    }

    long before = tiles();
    Prediction.Summary a = Prediction.run(model, tasks, autoPatches, settings, AUTO, List.of("cpu"),
        dir.resolve("predict-auto"), (f, t, id, e) -> { });
    assertTrue(tiles() > before, "decoder auto decodes the synthetic slides' JPEG tiles itself");
    before = tiles();
    Prediction.Summary o = Prediction.run(model, tasks, openslidePatches, settings, OPENSLIDE, List.of("cpu"),
        dir.resolve("predict-openslide"), (f, t, id, e) -> { });
    assertEquals(before, tiles(), "decoder openslide leaves every tile to OpenSlide");

    assertEquals(tasks.size(), a.predicted().size(), a.failed().toString());
    assertEquals(tasks.size(), o.predicted().size(), o.failed().toString());
    same("predictions.csv");
    for (SlideTask t : tasks) {
      Path coords = dir.resolve("patched-auto/coords/" + t.slideId() + ".csv");
      assertTrue(Files.readAllLines(coords).size() > 12, t.slideId() + " has patches to compare");
      assertArrayEquals(Files.readAllBytes(dir.resolve("patched-openslide/coords/" + t.slideId() + ".csv")),
          Files.readAllBytes(coords), t.slideId() + ": tissue patches differ between decoders");
      same("attention/" + t.slideId() + ".csv");
      same("heatmaps/" + t.slideId() + ".png");
    }
  }

  private static void same(String file) throws Exception {
    assertArrayEquals(Files.readAllBytes(dir.resolve("predict-openslide").resolve(file)),
        Files.readAllBytes(dir.resolve("predict-auto").resolve(file)), file + " differs between decoders");
  }

  /** {@link #MODEL} as seeded initialisation makes it, as if a checkpoint had recorded it. */
  private static TrainedModel seeded(Path source) {
    List<NamedTensor> parameters = new ArrayList<>();
    try (NDManager m = NDManager.newBaseManager()) {
      MilModel built = MilModel.build(MODEL, m, PATCH);
      for (Pair<String, Parameter> p : built.getParameters()) {
        NDArray a = p.getValue().getArray();
        parameters.add(new NamedTensor(p.getKey(), a.getShape().getShape(),
            a.toType(DataType.FLOAT32, false).toFloatArray()));
      }
    }
    return new TrainedModel(source, MODEL, PATCH, 0, 0, List.of("0", "1"), MEAN, STD, parameters, 0, List.of(),
        List.of());
  }
}
