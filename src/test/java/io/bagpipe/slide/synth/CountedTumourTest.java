package io.bagpipe.slide.synth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.bagpipe.bag.Extent;
import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.slide.Rgb;
import io.bagpipe.slide.Slide;
import io.bagpipe.slide.SlideDecoder;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bagpipe.synth.tumour-patches}: a low witness rate, with the tumour on whole grid cells. */
class CountedTumourTest {

  private static final int PATCH = 64;
  private static final int SIZE = 1024;

  @Test
  void positivesHoldTheDrawnNumberOfTumourGridPatchesAndTumourTruthFindsExactlyThose(@TempDir Path dir)
      throws Exception {
    SynthSettings s = new SynthSettings(dir, 8, SIZE, SIZE, 0.12, 0.4, 0.6, PATCH, 2, 5, 0.9f, 0.5, 1, 3);
    SyntheticDataSet.Result r = SyntheticDataSet.ensure(s, line -> {});
    TumourTruth truth = TumourTruth.of(dir).orElseThrow();
    Set<Integer> counts = new HashSet<>();
    for (SyntheticDataSet.SlideSummary summary : r.slides()) {
      int index = Integer.parseInt(summary.id().substring("synth_".length()));
      SlideRecipe recipe = SyntheticDataSet.recipe(s, index);
      int wanted = recipe.densePatchCount();
      assertTrue(wanted >= 1 && wanted <= 3, summary.id() + " drew " + wanted);
      counts.add(wanted);
      assertEquals(wanted, summary.densePatches(), summary.id() + " dense patches");
      assertEquals(summary.label() == 1 ? wanted : 0, summary.tumourPatches(), summary.id() + " tumour patches");
      TissueMap map = new TissueMap(recipe);
      PatchCoordinates coords =
          PatchCoordinates.read(dir.resolve("coords/" + summary.id() + ".csv"), PATCH, new Extent(SIZE, SIZE));
      assertEquals(map.patches().size(), coords.size());
      List<int[]> dense = new ArrayList<>();
      List<int[]> plain = new ArrayList<>();
      int found = 0;
      for (int i = 0; i < coords.size(); i++) {
        int x = (int) coords.x(i);
        int y = (int) coords.y(i);
        assertEquals(0, x % PATCH, "grid cell");
        assertEquals(0, y % PATCH, "grid cell");
        boolean isDense = map.patches().get(i).dense();
        (isDense ? dense : plain).add(new int[] {x, y});
        boolean tumour = truth.overlapsTumour(summary.id(), x, y, PATCH);
        assertEquals(summary.label() == 1 && isDense, tumour, summary.id() + " patch " + x + "," + y);
        if (tumour) {
          found++;
        }
      }
      assertEquals(wanted, dense.size(), summary.id() + ": dense patches listed in the coordinates");
      assertEquals(summary.label() == 1 ? wanted : 0, found, summary.id() + ": patches TumourTruth calls tumour");
      // The dense cells are painted: darker (more haematoxylin) than any plain tissue patch's median.
      try (Slide slide = Slide.open(dir.resolve("slides/" + summary.id() + ".tif"), new Rgb(255, 255, 255), SlideDecoder.OPENSLIDE)) {
        double[] plainGreen = plain.stream().mapToDouble(c -> meanGreen(slide, c)).sorted().toArray();
        double median = plainGreen[plainGreen.length / 2];
        for (int[] c : dense) {
          assertTrue(meanGreen(slide, c) < median - 10,
              summary.id() + " dense patch " + c[0] + "," + c[1] + " green " + meanGreen(slide, c) + " vs " + median);
        }
      }
    }
    assertTrue(counts.size() > 1, "counts are drawn per slide, got " + counts);
    TumourTruth again = TumourTruth.of(dir).orElseThrow();
    assertFalse(again.overlapsTumour("synth_000", 0, 0, PATCH));
  }

  private static double meanGreen(Slide slide, int[] corner) {
    ByteBuffer px = ByteBuffer.allocate(PATCH * PATCH * 3);
    slide.readRegion(0, corner[0], corner[1], PATCH, PATCH, px);
    long sum = 0;
    for (int i = 1; i < PATCH * PATCH * 3; i += 3) {
      sum += px.get(i) & 255;
    }
    return (double) sum / (PATCH * PATCH);
  }

  @Test
  void badSettingsNameTheKey() {
    var reference = ConfigFactory.load().getConfig("bagpipe.synth");
    var reversed = assertThrows(IllegalArgumentException.class, () -> SynthSettings.fromConfig(
        ConfigFactory.parseString("tumour-patches = [3, 1], patch-size = 64").withFallback(reference)));
    assertTrue(reversed.getMessage().contains("bagpipe.synth.tumour-patches"), reversed.getMessage());
    var odd = assertThrows(IllegalArgumentException.class, () -> SynthSettings.fromConfig(
        ConfigFactory.parseString("tumour-patches = [1, 3], patch-size = 50").withFallback(reference)));
    assertTrue(odd.getMessage().contains("bagpipe.synth.patch-size"), odd.getMessage());
    var one = assertThrows(IllegalArgumentException.class, () -> SynthSettings.fromConfig(
        ConfigFactory.parseString("tumour-patches = [2]").withFallback(reference)));
    assertTrue(one.getMessage().contains("bagpipe.synth.tumour-patches"), one.getMessage());
    var many = assertThrows(IllegalArgumentException.class, () -> new TissueMap(
        new SlideRecipe("tiny", 1, 256, 256, 3, 0.3, 0.1, 64, 40)));
    assertTrue(many.getMessage().contains("tiny") && many.getMessage().contains("bagpipe.synth.tumour-patches"),
        many.getMessage());
    assertEquals(0, SynthSettings.fromConfig(reference).tumourPatchesMax(), "off by default");
  }

  /**
   * The default output (tumour-patches off) has the bytes it had before the key existed: the digest below
   * was taken from the code before counted tumour patches were added.
   */
  @Test
  void defaultOutputIsUnchanged(@TempDir Path dir) throws Exception {
    SyntheticDataSet.ensure(new SynthSettings(dir, 2, 768, 768, 0.12, 0.4, 0.6, 64, 1, 7, 0.9f, 0.5), line -> {});
    MessageDigest sha = MessageDigest.getInstance("SHA-256");
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
        sha.update(dir.relativize(f).toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        sha.update(Files.readAllBytes(f));
      }
    }
    assertEquals(DEFAULT_DIGEST, HexFormat.of().formatHex(sha.digest()));
  }

  private static final String DEFAULT_DIGEST = "afda477723838f9a44f8a88e3da28f1639dc6eef9ad9411161914c0f0cae9b57";
}
