package io.bagpipe.slide;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.ExternalTools;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SlideTest {

  @TempDir static Path dir;
  static Path vips;
  static Path synth;

  @BeforeAll
  static void slides() throws Exception {
    vips = SlideFixtures.vipsSlide(dir, "vips", 1500, 1100);
    io.bagpipe.slide.synth.SyntheticDataSet.ensure(new io.bagpipe.slide.synth.SynthSettings(
        dir.resolve("synth"), 2, 1500, 1100, 0.15, 0.4, 0.6, 224, 1, 3, 0.9f, 0.5), line -> {});
    synth = dir.resolve("synth/slides/synth_001.tif");
  }

  static Stream<Arguments> regions() {
    return Stream.of(
        Arguments.of("interior, level 0", 0, 100L, 200L, 300, 200),
        Arguments.of("reduced level 1", 1, 400L, 300L, 256, 200),
        Arguments.of("reduced level 2", 2, 0L, 0L, 375, 275),
        Arguments.of("crosses right and bottom edges", 0, 1400L, 1000L, 300, 300),
        Arguments.of("crosses top-left corner", 0, -50L, -30L, 100, 100),
        Arguments.of("crosses edge at level 1", 1, 1200L, 900L, 200, 200),
        Arguments.of("entirely outside", 0, 5000L, 5000L, 40, 30));
  }

  @ParameterizedTest(name = "vips slide: {0}")
  @MethodSource("regions")
  void readsEqualOpenSlideWritePngPixelForPixel(String what, int level, long x, long y, int w, int h)
      throws Exception {
    assertMatchesWritePng(vips, level, x, y, w, h, SlideFixtures.WHITE);
  }

  @ParameterizedTest(name = "synth slide: {0}")
  @MethodSource("regions")
  void readsOfASynthSlideEqualOpenSlideWritePng(String what, int level, long x, long y, int w, int h)
      throws Exception {
    assertMatchesWritePng(synth, level, x, y, w, h, SlideFixtures.WHITE);
  }

  @Test
  void transparentPixelsTakeTheConfiguredBackground() throws Exception {
    assertMatchesWritePng(vips, 0, 1450, 1050, 100, 100, new Rgb(10, 20, 30));
  }

  /** Compares Slide.readRegion with openslide-write-png's RGBA output of the same region. */
  static void assertMatchesWritePng(Path slidePath, int level, long x, long y, int w, int h, Rgb bg)
      throws Exception {
    ExternalTools.require("openslide-write-png");
    Path png = Files.createTempFile(dir, "region", ".png");
    ExternalTools.run(
        List.of("openslide-write-png", "--", slidePath.toString(), Long.toString(x), Long.toString(y),
            Integer.toString(level), Integer.toString(w), Integer.toString(h), png.toString()));
    BufferedImage ref = ImageIO.read(png.toFile());
    ByteBuffer buf = ByteBuffer.allocateDirect(w * h * 3 + 7);
    buf.position(7); // reads land at the buffer's position
    try (Slide slide = Slide.open(slidePath, bg, SlideDecoder.OPENSLIDE)) {
      slide.readRegion(level, x, y, w, h, buf);
    }
    assertEquals(7 + w * h * 3, buf.position());
    int opaque = 0;
    for (int j = 0; j < h; j++) {
      for (int i = 0; i < w; i++) {
        int argb = ref.getRGB(i, j);
        int a = argb >>> 24;
        int o = 7 + (j * w + i) * 3;
        int got = ((buf.get(o) & 0xFF) << 16) | ((buf.get(o + 1) & 0xFF) << 8) | (buf.get(o + 2) & 0xFF);
        int want = a == 0 ? bg.packed() : argb & 0xFFFFFF;
        if (got != want) {
          throw new AssertionError(String.format(
              "pixel (%d,%d) of level %d region (%d,%d): got %06x, openslide-write-png %06x (alpha %d)",
              i, j, level, x, y, got, want, a));
        }
        opaque += a == 255 ? 1 : 0;
      }
    }
    assertTrue(opaque > 0 || x >= 1500 || y >= 1100, "region should hold image pixels");
  }

  @Test
  void reportsLevelsVendorAndProperties() throws Exception {
    try (Slide slide = Slide.open(vips, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE)) {
      assertEquals("generic-tiff", slide.vendor());
      assertTrue(slide.levelCount() > 1);
      assertEquals(new Level(0, 1500, 1100, 1.0), slide.level(0));
      assertEquals(750, slide.level(1).width());
      assertEquals(2.0, slide.level(1).downsample(), 1e-9);
      assertEquals("generic-tiff", slide.properties().get("openslide.vendor"));
    }
  }

  @Test
  void missingFileNamesThePath() {
    Path missing = dir.resolve("no-such-slide.svs");
    SlideException e = assertThrows(SlideException.class, () -> Slide.open(missing, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE));
    assertEquals(SlideException.Reason.MISSING, e.reason());
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
  }

  @Test
  void fileThatIsNotASlideNamesThePath() throws IOException {
    Path text = Files.writeString(dir.resolve("notes.txt"), "slide_id,label\n");
    SlideException e = assertThrows(SlideException.class, () -> Slide.open(text, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE));
    assertEquals(SlideException.Reason.UNRECOGNISED, e.reason());
    assertTrue(e.getMessage().contains(text.toString()), e.getMessage());
  }

  @Test
  void corruptSlideNamesThePathAndOpenSlidesMessage() throws Exception {
    Path broken = dir.resolve("broken.tif");
    Files.copy(vips, broken);
    try (RandomAccessFile f = new RandomAccessFile(broken.toFile(), "rw")) {
      // Keep the header and directories, destroy the tile data of level 0.
      long len = f.length();
      f.seek(16);
      f.write(new byte[(int) Math.min(len / 2, 200_000)]);
    }
    SlideException e =
        assertThrows(
            SlideException.class,
            () -> {
              try (Slide slide = Slide.open(broken, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE)) {
                ByteBuffer buf = ByteBuffer.allocateDirect(1500 * 1100 * 3);
                slide.readRegion(0, 0, 0, 1500, 1100, buf);
              }
            });
    assertEquals(SlideException.Reason.CORRUPT, e.reason());
    assertTrue(e.getMessage().contains(broken.toString()), e.getMessage());
    assertTrue(e.getMessage().length() > broken.toString().length() + 25, "carries OpenSlide's message: " + e.getMessage());
  }

  @Test
  void closedSlideRefusesReads() throws Exception {
    Slide slide = Slide.open(vips, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE);
    slide.close();
    slide.close();
    assertTrue(slide.isClosed());
    ByteBuffer buf = ByteBuffer.allocateDirect(3 * 16 * 16);
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> slide.readRegion(0, 0, 0, 16, 16, buf));
    assertTrue(e.getMessage().contains("closed"));
  }

  @Test
  void refusesAShortBufferAndBadLevels() throws Exception {
    try (Slide slide = Slide.open(vips, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE)) {
      assertThrows(IllegalArgumentException.class, () -> slide.readRegion(0, 0, 0, 16, 16, ByteBuffer.allocate(10)));
      assertThrows(IllegalArgumentException.class, () -> slide.readRegion(9, 0, 0, 16, 16, ByteBuffer.allocate(768)));
      assertThrows(IllegalArgumentException.class, () -> slide.readRegion(0, 0, 0, 0, 16, ByteBuffer.allocate(768)));
    }
  }

  @Test
  void heapBuffersWorkToo() throws Exception {
    try (Slide slide = Slide.open(vips, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE)) {
      ByteBuffer direct = ByteBuffer.allocateDirect(3 * 64 * 48);
      ByteBuffer heap = ByteBuffer.allocate(3 * 64 * 48);
      slide.readRegion(0, 333, 222, 64, 48, direct);
      slide.readRegion(0, 333, 222, 64, 48, heap);
      assertEquals(direct.flip(), heap.flip());
    }
  }
}
