package io.bagpipe.features;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The {@code .bpf} format: written in chunks, renamed only when whole, read a few rows at a time. */
class FeatureFileTest {

  @TempDir Path dir;

  @ParameterizedTest
  @CsvSource({"1,1,1", "7,3,2", "100,16,33", "5000,64,512"})
  void rowsWrittenInChunksReadBackByIndex(int n, int d, int chunk) throws Exception {
    int[] xy = new int[2 * n];
    for (int i = 0; i < xy.length; i++) {
      xy[i] = 3 * i + 1;
    }
    Path file = dir.resolve("s.bpf");
    try (FeatureFile.Writer w = FeatureFile.create(file, xy, d, Map.of("encoder", "test", "patch_size", "224"))) {
      float[] buf = new float[chunk * d];
      for (int from = 0; from < n; from += chunk) {
        int rows = Math.min(chunk, n - from);
        for (int i = 0; i < rows * d; i++) {
          buf[i] = value(from + i / d, i % d);
        }
        w.append(buf, rows);
        assertFalse(Files.exists(file), "the file appears only when complete");
      }
      w.finish();
    }
    assertFalse(Files.exists(dir.resolve("s.bpf.part")));
    FeatureFile.Header h = FeatureFile.open(file);
    assertEquals(n, h.rows());
    assertEquals(d, h.dim());
    assertEquals("test", h.metadata().get("encoder"));
    assertArrayEquals(xy, h.coordinates());
    int[] rows = {n - 1, 0, n / 2};
    try (FeatureRows r = FeatureRows.open(file)) {
      ByteBuffer b = ByteBuffer.allocateDirect(rows.length * d * 4);
      r.read(rows, 0, rows.length, b);
      var f = b.order(ByteOrder.nativeOrder()).asFloatBuffer();
      for (int i = 0; i < rows.length; i++) {
        for (int k = 0; k < d; k++) {
          assertEquals(value(rows[i], k), f.get(i * d + k), 0f);
        }
      }
      assertThrows(FeatureFileException.class, () -> r.read(new int[] {n}, 0, 1, ByteBuffer.allocateDirect(d * 4)));
    }
  }

  private static float value(int row, int k) {
    return row * 1000f + k;
  }

  @ParameterizedTest
  @CsvSource({"0", "3"})
  void anUnfinishedFileLeavesNothingBehind(int appended) throws Exception {
    Path file = dir.resolve("s.bpf");
    try (FeatureFile.Writer w = FeatureFile.create(file, new int[] {0, 0, 1, 1, 2, 2, 3, 3, 4, 4}, 2, Map.of())) {
      w.append(new float[2 * 3], appended == 0 ? 0 : 3);
      assertThrows(IllegalStateException.class, w::finish);
      assertThrows(IllegalStateException.class, () -> w.append(new float[12], 6));
    }
    assertFalse(Files.exists(file));
    assertFalse(Files.exists(dir.resolve("s.bpf.part")));
    Path junk = Files.writeString(dir.resolve("junk.bpf"), "not a feature file at all");
    var e = assertThrows(FeatureFileException.class, () -> FeatureFile.open(junk));
    assertTrue(e.getMessage().startsWith(junk.toString()), e.getMessage());
  }
}
