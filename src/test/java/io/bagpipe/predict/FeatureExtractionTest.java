package io.bagpipe.predict;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import com.typesafe.config.Config;
import io.bagpipe.TrainingFixtures;
import io.bagpipe.bag.BagRef;
import io.bagpipe.bag.DataSettings;
import io.bagpipe.bag.Manifest;
import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.features.FeatureFile;
import io.bagpipe.features.FeatureRows;
import io.bagpipe.loader.Loader;
import io.bagpipe.model.EncoderSpec;
import io.bagpipe.model.MilModel;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.PoolingKind;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideSettings;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bagpipe features}' extraction: one complete file per slide, resumable, a bad slide listed. */
class FeatureExtractionTest {

  @TempDir Path dir;

  static final float[] MEAN = {0.5f, 0.5f, 0.5f};
  static final float[] STD = {0.25f, 0.25f, 0.25f};

  @Test
  void writesOneFilePerSlideSkipsFinishedOnesAndListsTheCorruptSlide() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 4);
    Files.writeString(data.resolve("slides/s02.tif"), "not a TIFF");
    Config config = TrainingFixtures.config(data, dir.resolve("run"));
    DataSettings ds = DataSettings.fromConfig(config.getConfig("bagpipe.data"));
    List<SlideTask> tasks = SlideTask.of(Manifest.read(ds.manifest(), ds.slides(), ds.slideExtensions()));
    ModelSettings model = new ModelSettings(new EncoderSpec.MilCnnS(), PoolingKind.ATTENTION, 8, 2, 5);
    FeatureExtraction.Encoder encoder = FeatureExtraction.Encoder.of(model, TrainingFixtures.PATCH, 0, 0, MEAN, STD);
    SlideSettings slides = SlideSettings.fromConfig(config.getConfig("bagpipe.slide"));
    Path out = dir.resolve("features");

    FeatureExtraction.Summary first = FeatureExtraction.run(encoder, tasks, PatchSource.csvFolder(ds.coords()), slides,
        List.of("cpu", "cpu"), 7, out, (f, t, id, e) -> { });
    assertEquals(List.of("s00", "s01", "s03"), first.written().stream().sorted().toList());
    assertEquals(List.of("s02"), List.copyOf(first.failed().keySet()));
    assertTrue(first.failed().get("s02").contains("s02"), first.failed().get("s02"));
    assertTrue(Files.readAllLines(out.resolve("errors.csv")).get(1).startsWith("s02,"));
    assertFalse(Files.exists(out.resolve("s02.bpf")));
    assertFalse(Files.exists(out.resolve("s02.bpf.part")), "a failed slide leaves no partial file");

    for (String id : first.written()) {
      PatchCoordinates coords = PatchCoordinates.read(ds.coords().resolve(id + ".csv"));
      FeatureFile.Header h = FeatureFile.open(out.resolve(id + ".bpf"));
      assertEquals(coords.size(), h.rows(), id);
      assertEquals(64, h.dim());
      assertArrayEquals(coords.toArray(), h.coordinates());
      assertEquals("mil-cnn-s", h.metadata().get("encoder"));
      assertEquals("64", h.metadata().get("patch_size"));
      assertEquals("0.5,0.5,0.5", h.metadata().get("normalize_mean"));
    }

    // The rows are the encoder's features of those patches, in coordinate order (checked on a few).
    Path s01 = out.resolve("s01.bpf");
    PatchCoordinates coords = PatchCoordinates.read(ds.coords().resolve("s01.csv"));
    int[] rows = {0, 9, coords.size() - 1};
    float[] expected = direct(model, data.resolve("slides/s01.tif"), coords, rows, slides);
    try (FeatureRows r = FeatureRows.open(s01)) {
      ByteBuffer b = ByteBuffer.allocateDirect(rows.length * 64 * 4);
      r.read(rows, 0, rows.length, b);
      float[] got = new float[rows.length * 64];
      b.order(ByteOrder.nativeOrder()).asFloatBuffer().get(got);
      assertArrayEquals(expected, got, 1e-4f);
    }

    // Re-run: the finished slides are skipped, untouched; the corrupt one fails again.
    FileTime before = Files.getLastModifiedTime(s01);
    Files.setLastModifiedTime(s01, FileTime.fromMillis(before.toMillis() - 60_000));
    FileTime marked = Files.getLastModifiedTime(s01);
    FeatureExtraction.Summary second = FeatureExtraction.run(encoder, tasks, PatchSource.csvFolder(ds.coords()), slides,
        List.of("cpu"), 7, out, (f, t, id, e) -> { });
    assertEquals(List.of(), second.written());
    assertEquals(List.of("s00", "s01", "s03"), second.skipped().stream().sorted().toList());
    assertEquals(List.of("s02"), List.copyOf(second.failed().keySet()));
    assertEquals(marked, Files.getLastModifiedTime(s01));

    // A truncated file is not complete: it is written again.
    byte[] whole = Files.readAllBytes(s01);
    Files.write(s01, java.util.Arrays.copyOf(whole, whole.length - 10));
    FeatureExtraction.Summary third = FeatureExtraction.run(encoder, tasks, PatchSource.csvFolder(ds.coords()), slides,
        List.of("cpu"), 7, out, (f, t, id, e) -> { });
    assertEquals(List.of("s01"), third.written());
    assertArrayEquals(whole, Files.readAllBytes(s01));
  }

  /** The encoder's features of {@code rows}, computed on the whole patches at once. */
  private static float[] direct(ModelSettings settings, Path slide, PatchCoordinates coords, int[] rows,
      SlideSettings slideSettings) {
    int p = TrainingFixtures.PATCH;
    int[] xy = new int[2 * rows.length];
    for (int i = 0; i < rows.length; i++) {
      xy[2 * i] = coords.x(rows[i]);
      xy[2 * i + 1] = coords.y(rows[i]);
    }
    ByteBuffer pixels = ByteBuffer.allocateDirect(rows.length * p * p * 3);
    try (SlidePool pool = new SlidePool(slideSettings)) {
      Loader.decodeInto(pool, new BagRef("s01", slide.toString(), 0, xy, p, 0, -1, -1), 0, rows.length, pixels);
    }
    try (NDManager m = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(settings, m, p);
      pixels.clear();
      NDArray u8 = m.create(pixels, new Shape(rows.length, p, p, 3), DataType.UINT8);
      NDArray x = u8.transpose(0, 3, 1, 2).toType(DataType.FLOAT32, false).div(255f).sub(0.5f).div(0.25f);
      return model.encoder().forward(new ParameterStore(m, false), new NDList(x), false).singletonOrThrow()
          .toFloatArray();
    }
  }
}
