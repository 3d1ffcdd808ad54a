package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Uploaded patches come out as NCHW float32 with {@code (pixel / 255 - mean) / std} per channel,
 * element for element against that formula computed in Java, for the direct upload and for the
 * [0, 1] path augmentation takes; bad mean or std are refused.
 */
class PixelNormalizationTest {

  static final float[] MEAN = {0.485f, 0.456f, 0.406f};
  static final float[] STD = {0.229f, 0.224f, 0.225f};

  @ParameterizedTest(name = "{0} patches of {1} px")
  @CsvSource({"1, 1", "3, 5", "2, 16"})
  void uploadIsThePerChannelFormulaInChannelPlanes(int n, int p) {
    byte[] rgb = new byte[n * p * p * 3];
    new SplittableRandom(n * 31L + p).nextBytes(rgb);
    ByteBuffer pixels = ByteBuffer.allocateDirect(rgb.length).put(rgb).flip();
    try (NDManager m = NDManager.newBaseManager()) {
      PixelNormalization norm = new PixelNormalization(m, MEAN, STD);
      NDArray x = norm.upload(m, pixels, n, p);
      assertEquals(new Shape(n, 3, p, p), x.getShape());
      float[] got = x.toFloatArray();
      NDArray unit = PixelNormalization.unit(m, pixels, n, p);
      float[] unitValues = unit.toFloatArray();
      float[] fromUnit = norm.fromUnit(unit).toFloatArray();
      assertArrayEquals(unitValues, unit.toFloatArray(), "fromUnit leaves its argument alone");
      for (int i = 0; i < n; i++) {
        for (int c = 0; c < 3; c++) {
          for (int y = 0; y < p; y++) {
            for (int xx = 0; xx < p; xx++) {
              int v = rgb[((i * p + y) * p + xx) * 3 + c] & 0xFF;
              int at = ((i * 3 + c) * p + y) * p + xx;
              float expected = (v / 255f - MEAN[c]) / STD[c];
              assertEquals(v / 255f, unitValues[at], 1e-6f);
              assertEquals(expected, got[at], 1e-5f, "patch " + i + " channel " + c + " at " + xx + "," + y);
              assertEquals(expected, fromUnit[at], 1e-5f);
            }
          }
        }
      }
    }
  }

  @Test
  void refusesMeanOrStdThatAreNotThreePositiveValues() {
    try (NDManager m = NDManager.newBaseManager()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new PixelNormalization(m, new float[] {0.5f, 0.5f}, STD));
      assertTrue(e.getMessage().contains("three values"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> new PixelNormalization(m, MEAN, new float[] {0.2f, 0f, 0.2f}));
      assertTrue(e.getMessage().contains("positive"), e.getMessage());
    }
  }
}
