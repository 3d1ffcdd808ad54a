package io.bagpipe.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.bag.BagRef;
import io.bagpipe.slide.Slide;
import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.slide.SlideFixtures;
import java.nio.ByteBuffer;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class LoaderPoolTest {

  @RegisterExtension static final LoaderTesting.OneSlide SLIDE = new LoaderTesting.OneSlide(700, 500);
  static ActorRef<LoaderPool.Command> pool;

  @BeforeAll
  static void start() {
    // 3 patches per task: a 7-patch bag is cut into tasks of 3, 3 and 1 over 2 loaders.
    pool = SLIDE.kit().spawn(LoaderPool.create(
        LoaderPool.Setup.of(new LoaderSettings(2, 2, 3, 4), SLIDE.slides(), new BagBuffers(4))));
  }

  static BagRef bag(int... xy) {
    return new BagRef("s", SLIDE.slide().toString(), 1, xy, 32, 0, 0, 9);
  }

  @Test
  void aSetupKeepsItsOwnCopyOfTheLocalSlidesAndTrustsBagPathsWithout() {
    LoaderPool.Setup trusting = LoaderPool.Setup.of(new LoaderSettings(2, 2, 3, 4), SLIDE.slides(), new BagBuffers(4));
    assertEquals(java.util.Optional.empty(), trusting.localSlides());
    java.util.Map<String, String> local = new java.util.HashMap<>(java.util.Map.of("s", SLIDE.slide().toString()));
    LoaderPool.Setup setup = trusting.withLocalSlides(local);
    local.put("t", "/elsewhere");
    assertEquals(java.util.Optional.of(java.util.Map.of("s", SLIDE.slide().toString())), setup.localSlides());
    LoaderMeter meter = new LoaderMeter();
    assertTrue(setup.withMeter(meter).meter() == meter && setup.withMeter(meter).localSlides().isPresent());
  }

  @Test
  void decodesEveryPatchOfABagInOrderAcrossTasks() throws Exception {
    int[] xy = {0, 0, 100, 40, 200, 80, 300, 120, 400, 160, 500, 200, 600, 240};
    TestProbe<LoaderPool.Loaded> probe = SLIDE.kit().createTestProbe();
    pool.tell(new LoaderPool.LoadBag(bag(xy), probe.getRef()));
    LoaderPool.BagLoaded loaded = probe.expectMessageClass(LoaderPool.BagLoaded.class, Duration.ofSeconds(20));
    DecodedBag d = loaded.decoded();
    assertEquals(7, d.patches());
    ByteBuffer got = d.pixels();
    assertEquals(7 * 32 * 32 * 3, got.remaining());
    ByteBuffer want = ByteBuffer.allocate(7 * 32 * 32 * 3);
    try (Slide s = Slide.open(SLIDE.slide(), SlideFixtures.WHITE, SlideDecoder.OPENSLIDE)) {
      for (int i = 0; i < 7; i++) {
        s.readRegion(0, xy[2 * i], xy[2 * i + 1], 32, 32, want);
      }
    }
    assertEquals(want.flip(), got);
    assertTrue(d.decodeNanos() > 0);
    d.release();
  }

  @Test
  void theMeterCountsDecodedAndFailedBagsAndEmptiesItsQueue() throws Exception {
    LoaderMeter meter = new LoaderMeter();
    ActorRef<LoaderPool.Command> counted = SLIDE.kit().spawn(LoaderPool.create(
        LoaderPool.Setup.of(new LoaderSettings(2, 2, 3, 4), SLIDE.slides(), new BagBuffers(4)).withMeter(meter)));
    TestProbe<LoaderPool.Loaded> probe = SLIDE.kit().createTestProbe();
    counted.tell(new LoaderPool.LoadBag(bag(0, 0, 100, 40, 200, 80, 300, 120, 400, 160), probe.getRef()));
    counted.tell(new LoaderPool.LoadBag(bag(0, 0, 690, 10), probe.getRef())); // its second patch is outside
    // too big for one buffer: refused at once
    counted.tell(new LoaderPool.LoadBag(new BagRef("s", SLIDE.slide().toString(), 1, new int[2 * 11000], 256, 0, 0, 11),
        probe.getRef()));
    int decoded = 0;
    for (int i = 0; i < 3; i++) {
      if (probe.expectMessageClass(LoaderPool.Loaded.class, Duration.ofSeconds(20))
          instanceof LoaderPool.BagLoaded(DecodedBag d)) {
        decoded++;
        d.release();
      }
    }
    assertEquals(1, decoded);
    assertEquals(1, meter.bagsDecoded());
    assertEquals(2, meter.bagsFailed());
    assertEquals(5, meter.patchesDecoded()); // the failed bag's patches are not counted
    assertEquals(0, meter.bagsInFlight());
    assertEquals(0, meter.tasksInFlight());
    assertTrue(meter.decodeNanos() > 0);
    assertEquals(0, meter.cacheHits() + meter.cacheMisses()); // the cache is off
    SLIDE.kit().stop(counted);
  }

  @Test
  void aPatchOutsideTheSlideFailsTheBagNamingSlideAndCoordinate() {
    TestProbe<LoaderPool.Loaded> probe = SLIDE.kit().createTestProbe();
    pool.tell(new LoaderPool.LoadBag(bag(0, 0, 690, 10), probe.getRef()));
    LoaderPool.BagFailed failed = probe.expectMessageClass(LoaderPool.BagFailed.class, Duration.ofSeconds(20));
    assertTrue(failed.reason().contains("(690,10)"), failed.reason());
    assertTrue(failed.reason().contains("'s'"), failed.reason());
    assertTrue(failed.reason().contains("700x500"), failed.reason());
  }

  @Test
  void aMissingSlideFailsTheBagNamingTheFile() {
    TestProbe<LoaderPool.Loaded> probe = SLIDE.kit().createTestProbe();
    BagRef missing = new BagRef("gone", SLIDE.dir().resolve("gone.tif").toString(), 0, new int[] {0, 0}, 32, 0, 0, 3);
    pool.tell(new LoaderPool.LoadBag(missing, probe.getRef()));
    LoaderPool.BagFailed failed = probe.expectMessageClass(LoaderPool.BagFailed.class, Duration.ofSeconds(20));
    assertTrue(failed.reason().contains("gone.tif"), failed.reason());
  }

  /**
   * {@code bag-size = all} on a big slide: the decoded bytes pass what one buffer holds. As an
   * int product they would wrap, negative (a crashed pool) or to a small positive size (a buffer
   * too short); the bag fails instead, before anything is allocated or read.
   */
  @ParameterizedTest(name = "{0} patches of {1} px")
  @CsvSource({"11000, 256", "22000, 256", "1, 30000"})
  void aBagTooBigForOneBufferFailsNamingSlideSizeAndSettings(int patches, int size) {
    BagRef big = new BagRef("s", SLIDE.slide().toString(), 1, new int[2 * patches], size, 0, 0, 11);
    assertEquals((long) patches * size * size * 3, DecodedBag.bytes(big));
    TestProbe<LoaderPool.Loaded> probe = SLIDE.kit().createTestProbe();
    pool.tell(new LoaderPool.LoadBag(big, probe.getRef()));
    LoaderPool.BagFailed failed = probe.expectMessageClass(LoaderPool.BagFailed.class, Duration.ofSeconds(20));
    assertEquals(big, failed.bag());
    for (String part : new String[] {"'s'", patches + " patches", size + "x" + size + " px",
        "bagpipe.plan.bag-size", "bagpipe.plan.patch-size"}) {
      assertTrue(failed.reason().contains(part), failed.reason());
    }
    // The pool carries on with the next bag.
    pool.tell(new LoaderPool.LoadBag(bag(0, 0), probe.getRef()));
    probe.expectMessageClass(LoaderPool.BagLoaded.class, Duration.ofSeconds(20)).decoded().release();
  }

  @Test
  void aBagJustUnderTheBufferLimitFits() {
    assertNull(DecodedBag.tooBig(new BagRef("s", SLIDE.slide().toString(), 1, new int[2 * 10922], 256, 0, 0, 12)));
  }
}
