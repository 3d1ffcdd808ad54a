package io.bagpipe.slide.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NativeSlideConversionTest {

  /** Reference conversion, one pixel at a time, as documented on readRegionRgb. */
  static int expected(int argb, int bg) {
    int a = argb >>> 24;
    int[] c = {(argb >>> 16) & 255, (argb >>> 8) & 255, argb & 255};
    int[] k = {(bg >>> 16) & 255, (bg >>> 8) & 255, bg & 255};
    int out = 0;
    for (int i = 0; i < 3; i++) {
      int v = a == 255 ? c[i] : a == 0 ? k[i] : c[i] + (k[i] * (255 - a) + 127) / 255;
      out = (out << 8) | v;
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 3, 4, 5, 7, 64, 1001})
  void convertsOpaqueTransparentAndPartialPixels(int pixels) {
    SplittableRandom rnd = new SplittableRandom(pixels);
    int bg = 0x102030;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment in = arena.allocate(4L * pixels);
      MemorySegment out = arena.allocate(3L * pixels);
      int[] src = new int[pixels];
      for (int i = 0; i < pixels; i++) {
        int kind = rnd.nextInt(10);
        int a = kind < 7 ? 255 : kind < 9 ? 0 : rnd.nextInt(1, 255);
        // premultiplied: colour components never exceed alpha
        int r = a == 0 ? 0 : rnd.nextInt(a + 1);
        int g = a == 0 ? 0 : rnd.nextInt(a + 1);
        int b = a == 0 ? 0 : rnd.nextInt(a + 1);
        src[i] = (a << 24) | (r << 16) | (g << 8) | b;
        in.setAtIndex(ValueLayout.JAVA_INT, i, src[i]);
      }
      NativeSlide.argbToRgb(in, out, pixels, bg);
      for (int i = 0; i < pixels; i++) {
        int got = ((out.get(ValueLayout.JAVA_BYTE, 3L * i) & 255) << 16)
            | ((out.get(ValueLayout.JAVA_BYTE, 3L * i + 1) & 255) << 8)
            | (out.get(ValueLayout.JAVA_BYTE, 3L * i + 2) & 255);
        assertEquals(expected(src[i], bg), got, "pixel " + i + " argb " + Integer.toHexString(src[i]));
      }
    }
  }
}
