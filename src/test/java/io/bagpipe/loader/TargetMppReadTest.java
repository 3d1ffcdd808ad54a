package io.bagpipe.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.bag.BagRef;
import io.bagpipe.slide.Resize;
import io.bagpipe.slide.Slide;
import io.bagpipe.slide.SlideFixtures;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With bagpipe.plan.target-mpp set, a patch is its level-0 extent read from the best
 * level and area-averaged to patch-size: close to reading level 0 and shrinking it.
 */
class TargetMppReadTest {

  static final int P = 64;

  @Test
  void readingAtTargetMppMatchesLevelZeroReadAndShrunk(@TempDir Path dir) throws Exception {
    // 1024 px, tiles of 256: levels with downsample 1, 2, 4; 0.5 um/px at level 0
    SyntheticDataSet.Result data = SyntheticDataSet.ensure(
        new SynthSettings(dir.resolve("synth"), 2, 1024, 1024, 0.12, 0.5, 0.6, 64, 1, 5, 0.9f, 0.5), line -> {});
    Path slidePath = data.dir().resolve("slides").resolve(data.slides().get(1).id() + ".tif");
    int[] xy = {256, 320, 600, 130, 0, 0};
    try (SlidePool pool = new SlidePool(new SlideSettings(SlideFixtures.WHITE, 2, SlideDecoder.AUTO));
        Slide slide = Slide.open(slidePath, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE)) {
      assertTrue(slide.levelCount() >= 2, slide.toString());
      // target 1.0 um/px: 128 level-0 px per patch, read at level 1 (downsample 2) with no resize;
      // target 1.5 um/px: 192 level-0 px, read at level 1 as 96 px and area-averaged to 64
      for (double target : new double[] {1.0, 1.5}) {
        long extent = Math.round(P * target / 0.5);
        BagRef bag = new BagRef("s", slidePath.toString(), 1, xy, P, 0, 0, 1, target);
        ByteBuffer got = ByteBuffer.allocate(3 * P * P * 3);
        Loader.decodeInto(pool, bag, 0, 3, got);
        for (int i = 0; i < 3; i++) {
          ByteBuffer level0 = ByteBuffer.allocate((int) (3 * extent * extent));
          slide.readRegion(0, xy[2 * i], xy[2 * i + 1], (int) extent, (int) extent, level0);
          ByteBuffer expected = ByteBuffer.allocate(3 * P * P);
          Resize.rgb(level0.array(), (int) extent, (int) extent, expected, P, P);
          double mad = 0;
          for (int b = 0; b < 3 * P * P; b++) {
            mad += Math.abs((got.get(i * 3 * P * P + b) & 0xFF) - (expected.get(b) & 0xFF));
          }
          mad /= 3 * P * P;
          System.out.printf("target %.1f um/px, patch %d: mean |difference| %.2f of 255%n", target, i, mad);
          // the pyramid's level 1 is its own JPEG of a 2x2 average: close to level 0 shrunk, not equal
          assertTrue(mad < 4.0, "target " + target + " patch " + i + ": mean abs difference " + mad);
        }
      }
      // unset (0): today's read, patch-size pixels at level 0
      BagRef plain = new BagRef("s", slidePath.toString(), 1, xy, P, 0, 0, 1);
      ByteBuffer a = ByteBuffer.allocate(3 * P * P * 3);
      Loader.decodeInto(pool, plain, 0, 3, a);
      ByteBuffer b = ByteBuffer.allocate(3 * P * P);
      slide.readRegion(0, xy[2], xy[3], P, P, b);
      assertEquals(b.flip(), a.slice(3 * P * P, 3 * P * P));
      // a patch whose extent passes the edge is named
      BagRef edge = new BagRef("s", slidePath.toString(), 1, new int[] {1024 - 100, 0}, P, 0, 0, 1, 1.0);
      var e = assertThrows(IllegalArgumentException.class,
          () -> Loader.decodeInto(pool, edge, 0, 1, ByteBuffer.allocate(3 * P * P)));
      assertTrue(e.getMessage().contains("falls outside slide 's'"), e.getMessage());
    }
  }

  @Test
  void aSlideWithoutMppIsNamedWhenTargetMppIsSet(@TempDir Path dir) throws Exception {
    Path tif = io.bagpipe.slide.tissue.NoMppSlides.write(dir, "plain", 256, 256);
    try (SlidePool pool = new SlidePool(new SlideSettings(SlideFixtures.WHITE, 2, SlideDecoder.AUTO));
        Slide slide = Slide.open(tif, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE)) {
      assertTrue(slide.micronsPerPixelX().isEmpty(), "the slide still says its mpp: " + slide.properties());
      BagRef bag = new BagRef("plain", tif.toString(), 0, new int[] {0, 0}, 32, 0, 0, 1, 0.5);
      var e = assertThrows(IllegalArgumentException.class,
          () -> Loader.decodeInto(pool, bag, 0, 1, ByteBuffer.allocate(3 * 32 * 32)));
      assertTrue(e.getMessage().contains("slide 'plain'") && e.getMessage().contains("bagpipe.plan.target-mpp"),
          e.getMessage());
    }
  }
}
