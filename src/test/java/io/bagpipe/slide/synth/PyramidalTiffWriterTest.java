package io.bagpipe.slide.synth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PyramidalTiffWriterTest {

  @TempDir Path tmp;

  private static final TiffOptions OPTIONS = new TiffOptions(256, 0.9f, 0.5, "synth test");

  private static TissuePainter painter(int w, int h, int label, long seed) {
    return new TissuePainter(new TissueMap(new SlideRecipe("t", label, w, h, seed, 0.45, 0.15, 224)));
  }

  @ParameterizedTest
  @CsvSource({"2000, 1500", "1031, 517", "256, 256", "300, 240"})
  void openSlideReadsItAsGenericTiffWithEveryLevel(int w, int h) throws Exception {
    Path file = tmp.resolve("s.tif");
    PyramidalTiffWriter.WrittenTiff written = PyramidalTiffWriter.write(file, w, h, OPTIONS, painter(w, h, 1, 3));
    List<PyramidalTiffWriter.LevelSize> expected = PyramidalTiffWriter.levelSizes(w, h, 256);
    assertEquals(expected, written.levels());
    assertFalse(Files.exists(tmp.resolve("s.tif.part")), "temporary file left behind");

    Map<String, String> p = SynthTestSupport.properties(file);
    assertEquals("generic-tiff", p.get("openslide.vendor"));
    assertEquals(expected.size(), Integer.parseInt(p.get("openslide.level-count")));
    if (w > 256 || h > 256) {
      assertTrue(expected.size() > 1, "a slide larger than one tile has a pyramid");
    }
    for (int i = 0; i < expected.size(); i++) {
      assertEquals(expected.get(i).width(), Integer.parseInt(p.get("openslide.level[" + i + "].width")), "level " + i);
      assertEquals(expected.get(i).height(), Integer.parseInt(p.get("openslide.level[" + i + "].height")), "level " + i);
      assertEquals("256", p.get("openslide.level[" + i + "].tile-width"));
    }
    assertEquals("centimeter", p.get("tiff.ResolutionUnit"));
    assertEquals(20000.0, Double.parseDouble(p.get("tiff.XResolution")), 1e-6, "0.5 um/px = 20000 px/cm");
    assertEquals("synth test", p.get("tiff.ImageDescription"));
  }

  @Test
  void openSlideDecodesTheColoursThePainterPainted() throws Exception {
    int w = 3000;
    int h = 2600;
    TissueMap map = new TissueMap(new SlideRecipe("t", 1, w, h, 11, 0.45, 0.15, 224));
    TissuePainter painter = new TissuePainter(map);
    Path file = tmp.resolve("c.tif");
    PyramidalTiffWriter.write(file, w, h, OPTIONS, painter);
    // A region around a tumour patch, across tile and strip borders, glass to nuclei.
    TissueMap.Patch tumour = map.patches().stream().filter(TissueMap.Patch::dense).findFirst().orElseThrow();
    int rw = 700;
    int rh = 300;
    int x0 = Math.clamp(tumour.x() - 250, 0, w - rw);
    int y0 = Math.clamp(tumour.y() - 40, 0, h - rh);
    BufferedImage got = SynthTestSupport.region(file, x0, y0, 0, rw, rh, tmp);
    byte[] want = SynthTestSupport.painted(painter, w, y0, rh);
    double[] diff = new double[3];
    int dark = 0;
    for (int y = 0; y < rh; y++) {
      for (int x = 0; x < rw; x++) {
        int argb = got.getRGB(x, y);
        int[] g = {(argb >> 16) & 0xff, (argb >> 8) & 0xff, argb & 0xff};
        int i = (y * w + x0 + x) * 3;
        for (int c = 0; c < 3; c++) {
          diff[c] += Math.abs(g[c] - (want[i + c] & 0xff));
        }
        if ((want[i + 1] & 0xff) < 100) {
          dark++;
        }
      }
    }
    int n = rw * rh;
    assertTrue(dark > n / 50, "the region should show nuclei, dark pixels: " + dark);
    for (int c = 0; c < 3; c++) {
      // JPEG error is ~1-3; a wrong colour space (YCbCr read as RGB) gives tens.
      assertTrue(diff[c] / n < 4.0, "channel " + c + " mean abs diff " + diff[c] / n);
    }
  }

  @Test
  void reducedLevelsAreBoxFilteredLevelZero() throws Exception {
    int w = 1024;
    int h = 1024;
    TissuePainter painter = painter(w, h, 1, 5);
    Path file = tmp.resolve("d.tif");
    PyramidalTiffWriter.write(file, w, h, OPTIONS, painter);
    byte[] level0 = SynthTestSupport.painted(painter, w, 0, h);
    BufferedImage got = SynthTestSupport.region(file, 0, 0, 1, 512, 512, tmp);
    double diff = 0;
    for (int y = 0; y < 512; y++) {
      for (int x = 0; x < 512; x++) {
        int argb = got.getRGB(x, y);
        int g = (argb >> 8) & 0xff;
        int sum = 0;
        for (int dy = 0; dy < 2; dy++) {
          for (int dx = 0; dx < 2; dx++) {
            sum += level0[((2 * y + dy) * w + 2 * x + dx) * 3 + 1] & 0xff;
          }
        }
        diff += Math.abs(g - sum / 4.0);
      }
    }
    assertTrue(diff / (512 * 512) < 4.0, "level 1 green mean abs diff " + diff / (512 * 512));
  }

  @Test
  void refusesToPassTheSizeLimitAndLeavesNoFile() {
    Path file = tmp.resolve("big.tif");
    StripPainter noise =
        (y0, rows, rgb, width) -> {
          for (int i = 0; i < rows * width * 3; i++) {
            rgb[i] = (byte) Noise.hash(7, y0, i);
          }
        };
    IOException e =
        assertThrows(
            IOException.class,
            () -> PyramidalTiffWriter.write(file, 2048, 2048, OPTIONS, noise, 1_000_000));
    assertTrue(e.getMessage().contains("4 GiB"), e.getMessage());
    assertFalse(Files.exists(file));
    assertFalse(Files.exists(tmp.resolve("big.tif.part")));
  }

  @Test
  void sameInputSameBytes() throws Exception {
    Path a = tmp.resolve("a.tif");
    Path b = tmp.resolve("b.tif");
    PyramidalTiffWriter.write(a, 900, 700, OPTIONS, painter(900, 700, 0, 1));
    PyramidalTiffWriter.write(b, 900, 700, OPTIONS, painter(900, 700, 0, 1));
    assertEquals(-1, Files.mismatch(a, b));
  }
}
