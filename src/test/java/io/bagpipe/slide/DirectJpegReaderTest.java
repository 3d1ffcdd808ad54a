package io.bagpipe.slide;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.typesafe.config.ConfigFactory;
import io.bagpipe.slide.ffm.JpegTileDecoder;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The direct JPEG tile decoder gives OpenSlide's pixels byte for byte, on slides
 * written by vips (RGB 4:4:4 tiles at Q 90, YCbCr 4:2:0 at Q 75) and by Bagpipe's
 * own javax.imageio writer, at levels 0 to 2, for regions inside one tile, across
 * two and four tiles, along the partial right and bottom tiles, and for regions
 * it leaves to OpenSlide (outside the image, origins between a level's pixels).
 */
class DirectJpegReaderTest {

  @TempDir static Path dir;
  static Path rgb444;
  static Path ycbcr420;
  static Path synth;
  static Path bigTiff;

  @BeforeAll
  static void slides() throws Exception {
    rgb444 = SlideFixtures.vipsSlide(dir, "q90", 1000, 700, 90);
    ycbcr420 = SlideFixtures.vipsSlide(dir, "q75", 1000, 700, 75);
    SyntheticDataSet.ensure(new SynthSettings(dir.resolve("synth"), 2, 1100, 900, 0.15, 0.4, 0.6, 224, 1, 3, 0.9f, 0.5),
        line -> {});
    synth = dir.resolve("synth/slides/synth_000.tif");
    bigTiff = dir.resolve("q75-big.tif");
    io.bagpipe.ExternalTools.run(List.of("vips", "tiffsave", dir.resolve("q75.png").toString(), bigTiff.toString(),
        "--tile", "--tile-width", "256", "--tile-height", "256", "--pyramid", "--compression", "jpeg", "--Q", "75",
        "--bigtiff"));
  }

  static Stream<String> slideNames() {
    return Stream.of("rgb444", "ycbcr420", "synth", "bigtiff");
  }

  private static Path slide(String name) {
    return switch (name) {
      case "rgb444" -> rgb444;
      case "ycbcr420" -> ycbcr420;
      case "bigtiff" -> bigTiff;
      default -> synth;
    };
  }

  /** level, x, y, w, h (x, y at level 0). */
  private static List<long[]> fixedRegions(Slide s) {
    Level l0 = s.level(0);
    List<long[]> r = new ArrayList<>(List.of(
        new long[] {0, 0, 0, 256, 256},          // exactly one tile
        new long[] {0, 10, 10, 100, 100},        // inside one tile
        new long[] {0, 200, 10, 100, 100},       // across two tiles, side by side
        new long[] {0, 10, 200, 100, 100},       // across two tiles, one above the other
        new long[] {0, 200, 200, 100, 100},      // across four tiles
        new long[] {0, 37, 37, 224, 224},        // the peer's first patch
        new long[] {0, 255, 255, 2, 2},          // the four corner pixels of four tiles
        new long[] {0, 0, 300, l0.width(), 50},  // a full-width band
        new long[] {0, l0.width() - 224, l0.height() - 224, 224, 224}, // partial right and bottom tiles
        new long[] {0, l0.width() - 1, l0.height() - 1, 1, 1}));
    for (int li = 1; li < Math.min(3, s.levelCount()); li++) {
      Level l = s.level(li);
      long ds = Math.round(l.downsample());
      r.add(new long[] {li, 0, 0, Math.min(256, l.width()), Math.min(256, l.height())});
      r.add(new long[] {li, 100 * ds, 60 * ds, Math.min(200, l.width() - 100), Math.min(150, l.height() - 60)});
      r.add(new long[] {li, (l.width() - 30) * ds, (l.height() - 20) * ds, 30, 20});
    }
    return r;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("slideNames")
  void directReadsEqualOpenSlideAtTileEdgesLevelsAndImageEdges(String name) {
    if ("true".equalsIgnoreCase(System.getenv("CI"))) {
      assertTrue(JpegTileDecoder.scanlineAvailable(), ".ci/run installs libturbojpeg0 and libjpeg62-turbo");
    }
    assumeTrue(JpegTileDecoder.scanlineAvailable(), "libturbojpeg0 or libjpeg62-turbo is missing; skipping");
    Path p = slide(name);
    try (Slide os = Slide.open(p, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE);
        Slide direct = Slide.open(p, SlideFixtures.WHITE, SlideDecoder.AUTO)) {
      assertTrue(direct.decodesDirectly(), name + " should qualify for direct decoding");
      long[] before = JpegTileDecoder.decodeCounts();
      List<long[]> regions = fixedRegions(os);
      SplittableRandom rnd = new SplittableRandom(11);
      for (int i = 0; i < 150; i++) {
        int li = rnd.nextInt(Math.min(3, os.levelCount()));
        Level l = os.level(li);
        long ds = Math.round(l.downsample());
        int w = 1 + rnd.nextInt((int) Math.min(300, l.width()));
        int h = 1 + rnd.nextInt((int) Math.min(300, l.height()));
        long x = rnd.nextLong(l.width() - w + 1);
        long y = rnd.nextLong(l.height() - h + 1);
        regions.add(new long[] {li, x * ds, y * ds, w, h});
      }
      for (long[] r : regions) {
        assertSame(os, direct, r);
      }
      long[] counts = direct.directReadCounts();
      assertEquals(regions.size(), counts[0], () -> "every region inside the image is decoded directly; last fallback: "
          + direct.lastFallback());
      assertEquals(0, counts[1], "no region inside the image falls back");
      long[] after = JpegTileDecoder.decodeCounts();
      assertTrue(after[0] - before[0] > regions.size(), "most tiles go through libjpeg's scanline API: "
          + (after[0] - before[0]) + " scanline, " + (after[1] - before[1]) + " TurboJPEG");
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("slideNames")
  void regionsOpenSlideMustPaintFallBackAndStillMatch(String name) {
    Path p = slide(name);
    try (Slide os = Slide.open(p, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE);
        Slide direct = Slide.open(p, SlideFixtures.WHITE, SlideDecoder.AUTO)) {
      Level l0 = os.level(0);
      List<long[]> outside = List.of(
          new long[] {0, l0.width() - 100, l0.height() - 100, 224, 224}, // past the right and bottom edges
          new long[] {0, -20, 10, 64, 64},                               // left of the image
          new long[] {1, 3, 5, 64, 64});                                  // between level-1 pixels: resampled
      for (long[] r : outside) {
        assertSame(os, direct, r);
      }
      assertEquals(0, direct.directReadCounts()[0]);
      assertEquals(outside.size(), direct.directReadCounts()[1]);
    }
  }

  @Test
  void aCorruptTileIsLeftToOpenSlideAndLaterTilesStillDecodeDirectly() throws Exception {
    Path bad = dir.resolve("corrupt.tif");
    java.nio.file.Files.copy(ycbcr420, bad, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    long tileAt;
    try (var ch = java.nio.channels.FileChannel.open(bad, java.nio.file.StandardOpenOption.READ,
        java.nio.file.StandardOpenOption.WRITE)) {
      tileAt = TiffLayout.read(bad, ch).directories().getFirst().tileOffsets()[0];
      // the first marker segment's length becomes 1: no JPEG decoder accepts that
      ch.write(ByteBuffer.wrap(new byte[] {0, 1}), tileAt + 4);
    }
    try (Slide s = Slide.open(bad, SlideFixtures.WHITE, SlideDecoder.AUTO)) {
      SlideException e = assertThrows(SlideException.class,
          () -> s.readRegion(0, 0, 0, 64, 64, ByteBuffer.allocateDirect(64 * 64 * 3)));
      assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
      assertTrue(s.lastFallback().contains("tile 0,0 of level 0"), s.lastFallback());
    }
    try (Slide os = Slide.open(ycbcr420, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE);
        Slide direct = Slide.open(ycbcr420, SlideFixtures.WHITE, SlideDecoder.AUTO)) {
      assertSame(os, direct, new long[] {0, 300, 300, 224, 224});
      assertEquals(1, direct.directReadCounts()[0], () -> "decoded directly after the error: " + direct.lastFallback());
    }
  }

  @Test
  void openSlideDecoderNeverDecodesDirectly() {
    try (Slide s = Slide.open(rgb444, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE)) {
      assertTrue(!s.decodesDirectly());
      s.readRegion(0, 0, 0, 64, 64, ByteBuffer.allocateDirect(64 * 64 * 3));
      assertEquals(0, s.directReadCounts()[0]);
    }
  }

  @Test
  void decoderKeyIsValidatedByName() {
    var c = ConfigFactory.parseString("background = [255,255,255], max-open-slides = 4, decoder = fast");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SlideSettings.fromConfig(c));
    assertTrue(e.getMessage().contains("bagpipe.slide.decoder"), e.getMessage());
    assertEquals(SlideDecoder.AUTO, SlideSettings.fromConfig(
        ConfigFactory.parseString("background = [255,255,255], max-open-slides = 4, decoder = auto")).decoder());
  }

  private static void assertSame(Slide os, Slide direct, long[] r) {
    int level = (int) r[0];
    int w = (int) r[3];
    int h = (int) r[4];
    ByteBuffer a = ByteBuffer.allocateDirect(w * h * 3);
    ByteBuffer b = ByteBuffer.allocateDirect(w * h * 3);
    os.readRegion(level, r[1], r[2], w, h, a);
    direct.readRegion(level, r[1], r[2], w, h, b);
    assertEquals(w * h * 3, b.position(), "position advances by the region's bytes");
    a.flip();
    b.flip();
    if (!a.equals(b)) {
      int differ = 0;
      int max = 0;
      for (int i = 0; i < w * h * 3; i++) {
        int d = Math.abs((a.get(i) & 0xFF) - (b.get(i) & 0xFF));
        differ += d > 0 ? 1 : 0;
        max = Math.max(max, d);
      }
      fail(os.path().getFileName() + " level " + level + " (" + r[1] + "," + r[2] + ") " + w + "x" + h + ": "
          + differ + " of " + w * h * 3 + " bytes differ, by up to " + max);
    }
  }
}
