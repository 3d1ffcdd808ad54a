package io.bagpipe.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.bag.BagRef;
import io.bagpipe.slide.SlideFixtures;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Patches served from the cache are the bytes a fresh decode gives, at a level and at a target mpp. */
class CachedDecodeTest {

  static final int P = 64;
  @TempDir static Path dir;
  static Path slide;
  static SlidePool slides;

  @BeforeAll
  static void data() throws Exception {
    SyntheticDataSet.Result data = SyntheticDataSet.ensure(
        new SynthSettings(dir.resolve("synth"), 2, 1024, 1024, 0.12, 0.5, 0.6, 64, 1, 5, 0.9f, 0.5), line -> {});
    slide = data.dir().resolve("slides").resolve(data.slides().get(1).id() + ".tif");
    slides = new SlidePool(new SlideSettings(SlideFixtures.WHITE, 4, SlideDecoder.AUTO));
  }

  @AfterAll
  static void close() {
    slides.close();
  }

  static final int[] XY = {256, 320, 600, 130, 0, 0, 900, 900, 17, 433};

  @Test
  void aCachedPatchIsTheFreshlyDecodedBytes() {
    for (double mpp : new double[] {0, 1.5}) {
      BagRef bag = new BagRef("s", slide.toString(), 1, XY, P, 0, 0, 1, mpp);
      int n = bag.size();
      if (mpp > 0) { // 192 level-0 px per patch: keep them inside the 1024 px slide
        bag = new BagRef("s", slide.toString(), 1, new int[] {256, 320, 600, 130, 0, 0, 800, 800, 17, 433}, P, 0, 0,
            1, mpp);
      }
      ByteBuffer fresh = ByteBuffer.allocateDirect(n * P * P * 3);
      Loader.decodeInto(slides, bag, 0, n, fresh);
      try (PatchCache cache = new PatchCache(new PatchCacheSettings(1 << 20, 0.1))) {
        ByteBuffer first = ByteBuffer.allocateDirect(n * P * P * 3);
        assertEquals(0, Loader.decodeInto(slides, bag, 0, n, first, cache));
        assertEquals(fresh, first, "read through an empty cache, mpp " + mpp);
        ByteBuffer second = ByteBuffer.allocateDirect(n * P * P * 3);
        // two runs of the bag, as two tasks would take them
        int hits = Loader.decodeInto(slides, bag, 0, 2, second, cache)
            + Loader.decodeInto(slides, bag, 2, n, second, cache);
        assertEquals(n, hits);
        assertEquals(fresh, second, "served from the cache, mpp " + mpp);
        assertEquals(n, cache.stats().hits());
        assertEquals(n, cache.stats().misses());
      }
    }
  }

  @Test
  void theLoaderPoolCountsHitsPerBagAndTheCachesBytes() {
    ActorTestKit kit = ActorTestKit.create();
    try {
      long budget = 3L * P * P * 3; // three of the five patches fit
      ActorRef<LoaderPool.Command> pool = kit.spawn(LoaderPool.create(LoaderPool.Setup.of(
          new LoaderSettings(2, 2, 2, 4, new PatchCacheSettings(budget, 0.5)), slides, new BagBuffers(4))));
      TestProbe<LoaderPool.Loaded> probe = kit.createTestProbe();
      BagRef bag = new BagRef("s", slide.toString(), 1, XY, P, 0, 0, 1);
      ByteBuffer fresh = ByteBuffer.allocateDirect(bag.size() * P * P * 3);
      Loader.decodeInto(slides, bag, 0, bag.size(), fresh);

      pool.tell(new LoaderPool.LoadBag(bag, probe.getRef()));
      DecodedBag first = probe.expectMessageClass(LoaderPool.BagLoaded.class, Duration.ofSeconds(20)).decoded();
      assertEquals(0, first.cacheHits());
      assertEquals(5, first.cacheMisses());
      assertEquals(budget, first.cacheBytes(), "the cache filled to its budget and no further");
      assertEquals(fresh, first.pixels());
      first.release();

      // the same patches in a validation bag: three come from the cache, and nothing is replaced
      BagRef val = new BagRef("s", slide.toString(), 1, XY, P, 0, -1, -1);
      pool.tell(new LoaderPool.LoadBag(val, probe.getRef()));
      DecodedBag second = probe.expectMessageClass(LoaderPool.BagLoaded.class, Duration.ofSeconds(20)).decoded();
      assertEquals(3, second.cacheHits());
      assertEquals(2, second.cacheMisses());
      assertEquals(fresh, second.pixels());
      second.release();

      // a bag of the next epoch may replace round(0.5 x 3) = 2 entries: the two missing patches
      BagRef next = new BagRef("s", slide.toString(), 1, XY, P, 0, 1, BagRef.trainingKey(1, 0));
      pool.tell(new LoaderPool.LoadBag(next, probe.getRef()));
      DecodedBag third = probe.expectMessageClass(LoaderPool.BagLoaded.class, Duration.ofSeconds(20)).decoded();
      assertTrue(third.cacheHits() >= 1 && third.cacheHits() <= 3, "hits " + third.cacheHits());
      assertEquals(fresh, third.pixels());
      assertEquals(budget, third.cacheBytes());
      third.release();
    } finally {
      kit.shutdownTestKit();
    }
  }
}
