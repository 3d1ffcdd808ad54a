package io.bagpipe.slide.tissue;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class MaskOpsTest {

  @Test
  void otsuSplitsAKnownHistogramWhereTheBetweenClassVarianceIsLargest() {
    // {10} | {100, 200}: 0.5*0.5*(140-10)^2 = 4225 beats {10, 100} | {200}: 0.8*0.2*(200-43.75)^2 = 3906
    long[] h = new long[256];
    h[10] = 50;
    h[100] = 30;
    h[200] = 20;
    assertEquals(10, MaskOps.otsu(h));
    // moving weight to 200 flips the split: {10, 100} | {200} now wins
    h[200] = 200;
    h[10] = 10;
    assertEquals(100, MaskOps.otsu(h));
    long[] flat = new long[256];
    flat[77] = 1000;
    assertEquals(0, MaskOps.otsu(flat));
  }

  @Test
  void medianRemovesSaltAndKeepsEdges() {
    int w = 9;
    int h = 7;
    byte[] img = new byte[w * h];
    for (int y = 0; y < h; y++) {
      for (int x = 5; x < w; x++) {
        img[y * w + x] = (byte) 200; // a vertical step at x = 5
      }
    }
    img[3 * w + 2] = (byte) 255; // salt in the dark half
    byte[] m = MaskOps.median(img, w, h, 3);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        assertEquals(x < 5 ? 0 : 200, m[y * w + x] & 0xFF, "at " + x + "," + y);
      }
    }
  }

  @Test
  void closingFillsAOnePixelGapWithoutMovingTheRegion() {
    int w = 12;
    int h = 9;
    byte[] mask = new byte[w * h];
    for (int x = 3; x < 9; x++) {
      if (x != 6) {
        mask[4 * w + x] = 1;
      }
    }
    byte[] closed = MaskOps.close(mask, w, h, 4);
    byte[] expected = new byte[w * h];
    for (int x = 3; x < 9; x++) {
      expected[4 * w + x] = 1;
    }
    assertArrayEquals(expected, closed);
  }

  @Test
  void smallRegionsGoAndSmallHolesAreFilled() {
    int w = 24;
    int h = 20;
    byte[] mask = new byte[w * h];
    fill(mask, w, 2, 2, 14, 14, 1); // a 14x14 region (196 px) ...
    fill(mask, w, 4, 4, 2, 2, 0); // ... with a 4 px hole
    fill(mask, w, 8, 8, 4, 4, 0); // ... and a 16 px hole
    fill(mask, w, 20, 2, 2, 2, 1); // a 4 px speck
    byte[] out = MaskOps.filterRegions(mask, w, h, 10, 5, 8);
    byte[] expected = new byte[w * h];
    fill(expected, w, 2, 2, 14, 14, 1);
    fill(expected, w, 8, 8, 4, 4, 0); // the large hole stays, the small one is filled, the speck is gone
    assertArrayEquals(expected, out);
    // max-holes 0: every hole is filled
    byte[] none = MaskOps.filterRegions(mask, w, h, 10, 5, 0);
    byte[] solid = new byte[w * h];
    fill(solid, w, 2, 2, 14, 14, 1);
    assertArrayEquals(solid, none);
  }

  @Test
  void anIslandInsideAFilledHoleBecomesTissue() {
    int w = 20;
    int h = 20;
    byte[] mask = new byte[w * h];
    fill(mask, w, 1, 1, 18, 18, 1);
    fill(mask, w, 5, 5, 8, 8, 0); // a 64 px hole ...
    fill(mask, w, 8, 8, 1, 1, 1); // ... holding a one-pixel island
    byte[] out = MaskOps.filterRegions(mask, w, h, 10, 100, 8);
    byte[] solid = new byte[w * h];
    fill(solid, w, 1, 1, 18, 18, 1);
    assertArrayEquals(solid, out);
  }

  private static void fill(byte[] m, int w, int x0, int y0, int rw, int rh, int v) {
    for (int y = y0; y < y0 + rh; y++) {
      for (int x = x0; x < x0 + rw; x++) {
        m[y * w + x] = (byte) v;
      }
    }
  }
}
