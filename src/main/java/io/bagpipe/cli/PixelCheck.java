package io.bagpipe.cli;

import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.slide.Slide;
import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.slide.SlideSettings;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code bench read}'s pixel check: the same random 224x224 level-0 patches of
 * every slide read with the configured decoder and with OpenSlide alone, compared
 * byte for byte.
 *
 * @param patches patches compared
 * @param differing patches with at least one differing byte
 * @param maxDifference largest absolute difference of one byte
 * @param direct patches the configured decoder read without OpenSlide
 * @param slidesDirect slides the configured decoder reads without OpenSlide
 * @param slides slides checked
 */
record PixelCheck(long patches, long differing, int maxDifference, long direct, int slidesDirect, int slides) {

  boolean allEqual() {
    return differing == 0;
  }

  String summary() {
    return String.format("%d of %d patches equal (max byte difference %d); %d of them decoded without OpenSlide, "
        + "%d of %d slides qualify", patches - differing, patches, maxDifference, direct, slidesDirect, slides);
  }

  static PixelCheck run(List<Path> slides, List<PatchCoordinates> coords, SlideSettings settings, int perSlide) {
    long patches = 0;
    long differing = 0;
    int max = 0;
    long direct = 0;
    int slidesDirect = 0;
    int n = ReadBench.PATCH;
    ByteBuffer a = ByteBuffer.allocateDirect(n * n * 3);
    ByteBuffer b = ByteBuffer.allocateDirect(n * n * 3);
    SplittableRandom rnd = new SplittableRandom(20261130);
    for (int i = 0; i < slides.size(); i++) {
      try (Slide os = Slide.open(slides.get(i), settings.background(), SlideDecoder.OPENSLIDE);
          Slide ours = Slide.open(slides.get(i), settings.background(), settings.decoder())) {
        slidesDirect += ours.decodesDirectly() ? 1 : 0;
        PatchCoordinates c = coords.get(i);
        for (int k = 0; k < perSlide; k++) {
          int j = rnd.nextInt(c.size());
          a.clear();
          b.clear();
          os.readRegion(0, c.x(j), c.y(j), n, n, a);
          ours.readRegion(0, c.x(j), c.y(j), n, n, b);
          patches++;
          if (!a.flip().equals(b.flip())) {
            differing++;
            for (int q = 0; q < n * n * 3; q++) {
              max = Math.max(max, Math.abs((a.get(q) & 0xFF) - (b.get(q) & 0xFF)));
            }
          }
        }
        direct += ours.directReadCounts()[0];
      }
    }
    return new PixelCheck(patches, differing, max, direct, slidesDirect, slides.size());
  }
}
