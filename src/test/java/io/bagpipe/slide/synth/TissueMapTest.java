package io.bagpipe.slide.synth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TissueMapTest {

  @TempDir Path tmp;

  /** Glass is near-white: every channel high; tissue (pink stroma, purple nuclei) has green well below. */
  private static boolean looksLikeGlass(int r, int g, int b) {
    return r > 225 && g > 225 && b > 225;
  }

  @ParameterizedTest
  @CsvSource({"4000, 3000, 1, 0.10", "4000, 3000, 2, 0.10", "6000, 6000, 3, 0.05", "6000, 6000, 4, 0.20"})
  void tissuePatchesLieInsideOnTissueAndTumourFractionMatches(int w, int h, long seed, double fraction) {
    for (int label = 0; label <= 1; label++) {
      TissueMap map = new TissueMap(new SlideRecipe("t", label, w, h, seed, 0.45, fraction, 224));
      List<TissueMap.Patch> patches = map.patches();
      double coverage = patches.size() * 224.0 * 224 / ((double) w * h);
      assertTrue(coverage > 0.15 && coverage < 0.7, "tissue patch coverage " + coverage);
      for (TissueMap.Patch p : patches) {
        assertTrue(p.x() >= 0 && p.y() >= 0 && p.x() + 224 <= w && p.y() + 224 <= h, "outside: " + p);
        assertTrue(p.x() % 224 == 0 && p.y() % 224 == 0, "off the grid: " + p);
        assertTrue(map.tissueAt(p.x() + 112, p.y() + 112) >= 0.5, "centre not tissue: " + p);
      }
      double tumour = (double) map.tumourPatches() / patches.size();
      if (label == 1) {
        assertEquals(fraction, tumour, 0.5 / patches.size() + 1e-9, "tumour fraction of tissue patches");
      } else {
        assertEquals(0, map.tumourPatches());
        // Negatives have the same amount of dense (lymphoid) tissue, so density does not give the label away.
        assertEquals(fraction, (double) map.densePatches() / patches.size(), 0.5 / patches.size() + 1e-9);
      }
    }
  }

  @Test
  void labelDoesNotChangeWhereTissueIs() {
    TissueMap neg = new TissueMap(new SlideRecipe("t", 0, 5000, 4000, 77, 0.4, 0.1, 224));
    TissueMap pos = new TissueMap(new SlideRecipe("t", 1, 5000, 4000, 77, 0.4, 0.1, 224));
    assertEquals(neg.patches(), pos.patches());
  }

  @Test
  void paintedPixelsAtPatchCentresAreTissueAndGlassIsGlass() throws Exception {
    int w = 3000;
    int h = 2400;
    SlideRecipe recipe = new SlideRecipe("t", 1, w, h, 21, 0.45, 0.1, 224);
    TissueMap map = new TissueMap(recipe);
    TissuePainter painter = new TissuePainter(map);
    byte[] all = SynthTestSupport.painted(painter, w, 0, h);
    // Pure Java: every patch centre (16x16) is painted as tissue.
    for (TissueMap.Patch p : map.patches()) {
      int glass = 0;
      for (int y = p.y() + 104; y < p.y() + 120; y++) {
        for (int x = p.x() + 104; x < p.x() + 120; x++) {
          int i = (y * w + x) * 3;
          if (looksLikeGlass(all[i] & 0xff, all[i + 1] & 0xff, all[i + 2] & 0xff)) {
            glass++;
          }
        }
      }
      assertTrue(glass < 64, "patch " + p + " centre has " + glass + "/256 glass pixels");
    }
    // Through OpenSlide, for a sample of patches and one corner of the slide (glass).
    Path file = tmp.resolve("p.tif");
    PyramidalTiffWriter.write(file, w, h, new TiffOptions(256, 0.9f, 0.5, "t"), painter);
    List<TissueMap.Patch> sample = map.patches();
    for (int k = 0; k < sample.size(); k += Math.max(1, sample.size() / 6)) {
      TissueMap.Patch p = sample.get(k);
      assertTrue(meanGreen(SynthTestSupport.region(file, p.x() + 96, p.y() + 96, 0, 32, 32, tmp)) < 215, "" + p);
    }
    assertTrue(meanGreen(SynthTestSupport.region(file, 0, 0, 0, 32, 32, tmp)) > 230, "slide corner is glass");
    assertTrue(Files.size(file) > 0);
  }

  private static double meanGreen(BufferedImage img) {
    double sum = 0;
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        sum += (img.getRGB(x, y) >> 8) & 0xff;
      }
    }
    return sum / (img.getWidth() * img.getHeight());
  }
}
