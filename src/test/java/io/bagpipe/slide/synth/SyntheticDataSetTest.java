package io.bagpipe.slide.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.ExternalTools;
import io.bagpipe.bag.Extent;
import io.bagpipe.bag.Manifest;
import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.slide.Rgb;
import io.bagpipe.slide.Slide;
import io.bagpipe.slide.SlideDecoder;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticDataSetTest {

  @TempDir static Path dir;
  static SynthSettings settings;
  static SyntheticDataSet.Result first;

  static SynthSettings small(Path out, long seed) {
    return new SynthSettings(out, 4, 2048, 1536, 0.15, 0.4, 0.6, 224, 2, seed, 0.9f, 0.5);
  }

  @BeforeAll
  static void write() {
    settings = small(dir.resolve("a"), 11);
    first = SyntheticDataSet.ensure(settings, line -> {});
  }

  static List<Path> files(Path root) throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(Files::isRegularFile).sorted().toList();
    }
  }

  @Test
  void openSlideReadsEverySlideAsAGenericTiffPyramid() throws Exception {
    ExternalTools.require("openslide-show-properties");
    for (SyntheticDataSet.SlideSummary s : first.slides()) {
      Path tif = dir.resolve("a/slides/" + s.id() + ".tif");
      String props = ExternalTools.run(List.of("openslide-show-properties", tif.toString()));
      assertTrue(props.contains("openslide.vendor: 'generic-tiff'"), props);
      assertTrue(props.contains("openslide.level[0].width: '2048'"), props);
      assertTrue(props.contains("openslide.level[0].height: '1536'"), props);
      try (Slide slide = Slide.open(tif, new Rgb(255, 255, 255), SlideDecoder.OPENSLIDE)) {
        assertTrue(slide.levelCount() > 1);
        assertEquals(2.0, slide.level(1).downsample(), 1e-9);
        assertEquals(0.5, slide.micronsPerPixelX().orElseThrow(), 1e-6);
      }
    }
  }

  @Test
  void theSameSeedWritesTheSameBytesAndAnotherSeedOtherBytes() throws Exception {
    SyntheticDataSet.ensure(small(dir.resolve("b"), 11), line -> {});
    SyntheticDataSet.ensure(small(dir.resolve("c"), 12), line -> {});
    List<Path> a = files(dir.resolve("a"));
    List<Path> b = files(dir.resolve("b"));
    assertEquals(a.size(), b.size());
    for (int i = 0; i < a.size(); i++) {
      assertEquals(dir.resolve("a").relativize(a.get(i)), dir.resolve("b").relativize(b.get(i)));
      assertArrayEquals(Files.readAllBytes(a.get(i)), Files.readAllBytes(b.get(i)), a.get(i).toString());
    }
    assertFalse(java.util.Arrays.equals(Files.readAllBytes(dir.resolve("a/slides/synth_001.tif")),
        Files.readAllBytes(dir.resolve("c/slides/synth_001.tif"))));
  }

  @Test
  void manifestCoordinatesAndTumourShareFollowTheSettings() throws Exception {
    Manifest m = Manifest.read(dir.resolve("a/manifest.csv"), dir.resolve("a/slides"), List.of("tif"));
    assertEquals(4, m.slides().size());
    assertEquals(List.of(0, 1, 0, 1), m.slides().stream().map(e -> e.label()).toList());
    assertEquals(2, m.slides().stream().filter(e -> e.fold().getAsInt() == 1).count(), "folds stratified");
    for (SyntheticDataSet.SlideSummary s : first.slides()) {
      PatchCoordinates c = PatchCoordinates.read(dir.resolve("a/coords/" + s.id() + ".csv"), 224, new Extent(2048, 1536));
      assertEquals(s.tissuePatches(), c.size());
      double share = (double) s.densePatches() / s.tissuePatches();
      assertEquals(0.15, share, 0.03, s.id() + " dense share");
      assertEquals(s.label() == 1 ? s.densePatches() : 0, s.tumourPatches());
      // Every listed patch lies on tissue: its centre is not glass.
      try (Slide slide = Slide.open(dir.resolve("a/slides/" + s.id() + ".tif"), new Rgb(255, 255, 255), SlideDecoder.OPENSLIDE)) {
        ByteBuffer px = ByteBuffer.allocate(3);
        for (int i = 0; i < c.size(); i++) {
          px.clear();
          slide.readRegion(0, c.x(i) + 112, c.y(i) + 112, 1, 1, px);
          int r = px.get(0) & 255;
          int g = px.get(1) & 255;
          int b = px.get(2) & 255;
          assertTrue(r + g + b < 3 * 236, s.id() + " patch " + i + " centre looks like glass: " + r + "," + g + "," + b);
        }
      }
    }
  }

  @Test
  void openSlideShowsWhatThePainterPainted() throws Exception {
    ExternalTools.require("openslide-write-png");
    SlideRecipe recipe = SyntheticDataSet.recipe(settings, 1);
    TissuePainter painter = new TissuePainter(new TissueMap(recipe));
    int y0 = 512;
    byte[] strip = new byte[256 * 2048 * 3];
    painter.paint(y0, 256, strip, 2048);
    Path png = dir.resolve("region.png");
    ExternalTools.run(List.of("openslide-write-png", dir.resolve("a/slides/synth_001.tif").toString(),
        "768", Integer.toString(y0), "0", "256", "256", png.toString()));
    java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(png.toFile());
    double diff = 0;
    for (int y = 0; y < 256; y++) {
      for (int x = 0; x < 256; x++) {
        int rgb = img.getRGB(x, y);
        int o = (y * 2048 + 768 + x) * 3;
        diff += Math.abs(((rgb >> 16) & 255) - (strip[o] & 255)) + Math.abs(((rgb >> 8) & 255) - (strip[o + 1] & 255))
            + Math.abs((rgb & 255) - (strip[o + 2] & 255));
      }
    }
    double mean = diff / (256 * 256 * 3);
    assertTrue(mean < 6, "mean absolute difference per channel from the painted pixels: " + mean);
  }

  @Test
  void aCompleteSetIsReusedAndOtherSettingsRewriteIt() throws Exception {
    Path manifest = dir.resolve("a/manifest.csv");
    long before = Files.getLastModifiedTime(manifest).toMillis();
    SyntheticDataSet.Result again = SyntheticDataSet.ensure(settings, line -> {});
    assertTrue(again.reused());
    assertEquals(before, Files.getLastModifiedTime(manifest).toMillis());

    Path d = dir.resolve("d");
    SyntheticDataSet.ensure(small(d, 5), line -> {});
    SynthSettings fewer = new SynthSettings(d, 2, 2048, 1536, 0.15, 0.4, 0.6, 224, 1, 5, 0.9f, 0.5);
    SyntheticDataSet.Result rewritten = SyntheticDataSet.ensure(fewer, line -> {});
    assertFalse(rewritten.reused());
    assertEquals(2, Files.list(d.resolve("slides")).count(), "slides of the old set are removed");
  }

  @Test
  void refusesAFolderItDidNotWriteAndBadSettingsNameTheirKey() throws Exception {
    Path mine = Files.createDirectories(dir.resolve("mine"));
    Files.writeString(mine.resolve("notes.txt"), "precious");
    var e = assertThrows(IllegalArgumentException.class, () -> SyntheticDataSet.ensure(small(mine, 1), l -> {}));
    assertTrue(e.getMessage().contains(mine.toString()), e.getMessage());
    assertEquals("precious", Files.readString(mine.resolve("notes.txt")));
    var bad = assertThrows(IllegalArgumentException.class,
        () -> new SynthSettings(mine, 4, 2048, 1536, 0.7, 0.4, 0.6, 224, 2, 1, 0.9f, 0.5));
    assertTrue(bad.getMessage().contains("bagpipe.synth.tumour-fraction"), bad.getMessage());
  }

  @Test
  void aThirtyThousandPixelSlideIsWrittenUnderA512MbHeap() throws Exception {
    Path big = dir.resolve("big.tif");
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(), "-Xmx512m",
        "-cp", System.getProperty("java.class.path"), WriteOneSlide.class.getName(), big.toString(), "30000"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(5, TimeUnit.MINUTES), "finished");
    assertEquals(0, p.exitValue(), out);
    java.util.regex.Matcher heap = java.util.regex.Pattern.compile("heapMB=(\\d+)").matcher(out);
    assertTrue(heap.find() && Integer.parseInt(heap.group(1)) <= 512, "ran under a 512 MB heap: " + out);
    try (Slide slide = Slide.open(big, new Rgb(255, 255, 255), SlideDecoder.OPENSLIDE)) {
      assertEquals(30000, slide.level(0).width());
      assertTrue(slide.levelCount() >= 7, "pyramid down to one tile");
    }
  }
}
