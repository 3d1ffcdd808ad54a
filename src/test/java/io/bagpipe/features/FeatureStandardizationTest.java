package io.bagpipe.features;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Standardised feature files: statistics over all rows of the measured files, chunked reads. */
class FeatureStandardizationTest {

  @TempDir
  Path dir;

  static float[] write(Path file, int rows, int dim, long seed, float scale, float shift) throws Exception {
    int[] coords = new int[rows * 2];
    for (int i = 0; i < rows; i++) {
      coords[2 * i] = 64 * i;
      coords[2 * i + 1] = 7;
    }
    float[] x = new float[rows * dim];
    Random r = new Random(seed);
    for (int i = 0; i < x.length; i++) {
      x[i] = i % dim == 2 ? 0.5f : shift + scale * (float) r.nextGaussian();
    }
    try (FeatureFile.Writer w = FeatureFile.create(file, coords, dim, Map.of("encoder", "mil-cnn-s"))) {
      w.append(x, rows);
      w.finish();
    }
    return x;
  }

  @Test
  void statisticsSpanEveryRowOfEveryFileAndChunk() throws Exception {
    int dim = 3;
    int rowsA = FeatureStandardization.CHUNK_ROWS + 17; // more than one chunk
    float[] a = write(dir.resolve("a.bpf"), rowsA, dim, 1, 0.01f, 0.04f);
    float[] b = write(dir.resolve("b.bpf"), 5, dim, 2, 0.01f, 0.05f);
    FeatureStandardization.Stats s = FeatureStandardization.measure(List.of(dir.resolve("a.bpf"), dir.resolve("b.bpf")));
    assertEquals(rowsA + 5, s.rows());
    for (int j = 0; j < dim; j++) {
      double sum = 0;
      double sq = 0;
      for (float[] x : List.of(a, b)) {
        for (int i = j; i < x.length; i += dim) {
          sum += x[i];
          sq += (double) x[i] * x[i];
        }
      }
      double mean = sum / s.rows();
      assertEquals(mean, s.mean()[j], 1e-6);
      if (j != 2) {
        assertEquals(Math.sqrt(sq / s.rows() - mean * mean), s.std()[j], 1e-5);
      }
    }
    assertEquals(1f, s.std()[2], "a constant dimension keeps std 1");

    Path out = dir.resolve("out.bpf");
    FeatureStandardization.write(dir.resolve("a.bpf"), out, s);
    try (FeatureRows rows = FeatureRows.open(out)) {
      assertEquals(rowsA, rows.rows());
      assertArrayEquals(FeatureFile.open(dir.resolve("a.bpf")).coordinates(), rows.coordinates());
      assertTrue(rows.metadata().get("standardized").contains(Long.toString(s.rows())));
      assertEquals("mil-cnn-s", rows.metadata().get("encoder"));
    }
    // a's rows standardised with both files' statistics: a's own mean and std, mapped
    FeatureStandardization.Stats ownA = FeatureStandardization.measure(List.of(dir.resolve("a.bpf")));
    FeatureStandardization.Stats mapped = FeatureStandardization.measure(List.of(out));
    assertEquals(rowsA, mapped.rows());
    for (int j = 0; j < 2; j++) {
      assertEquals((ownA.mean()[j] - s.mean()[j]) / s.std()[j], mapped.mean()[j], 1e-4);
      assertEquals(ownA.std()[j] / s.std()[j], mapped.std()[j], 1e-4);
    }
    assertEquals(0f, mapped.mean()[2], 1e-6);
  }

  @Test
  void filesOfAnotherDimensionAreRefusedByName() throws Exception {
    write(dir.resolve("a.bpf"), 4, 3, 1, 1, 0);
    write(dir.resolve("b.bpf"), 4, 5, 1, 1, 0);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> FeatureStandardization.measure(List.of(dir.resolve("a.bpf"), dir.resolve("b.bpf"))));
    assertTrue(e.getMessage().contains("b.bpf") && e.getMessage().contains("D = 5"), e.getMessage());
  }
}
