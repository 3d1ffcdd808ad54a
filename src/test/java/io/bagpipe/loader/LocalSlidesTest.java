package io.bagpipe.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.bag.BagRef;
import io.bagpipe.slide.SlideFixtures;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideSettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A bag names a slide; the node's own manifest says which file that is, whatever path the bag carried. */
class LocalSlidesTest {

  static final ActorTestKit kit = ActorTestKit.create();
  @TempDir static Path dir;
  static Path slide;
  static SlidePool slides;
  static ActorRef<LoaderPool.Command> pool;

  @BeforeAll
  static void start() throws Exception {
    slide = SlideFixtures.vipsSlide(dir, "s", 300, 200);
    slides = new SlidePool(new SlideSettings(SlideFixtures.WHITE, 4, io.bagpipe.slide.SlideDecoder.AUTO));
    pool = kit.spawn(LoaderPool.create(LoaderPool.Setup.of(new LoaderSettings(1, 2, 3, 4), slides, new BagBuffers(4))
        .withLocalSlides(Map.of("s", slide.toString()))));
  }

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
    slides.close();
  }

  @Test
  void aBagIsReadFromThisNodesFileForItsSlideNotFromThePathItCarried() {
    TestProbe<LoaderPool.Loaded> probe = kit.createTestProbe();
    BagRef sent = new BagRef("s", "/etc/passwd", 1, new int[] {0, 0, 40, 40}, 32, 0, 0, 5);
    pool.tell(new LoaderPool.LoadBag(sent, probe.getRef()));
    LoaderPool.BagLoaded loaded = probe.expectMessageClass(LoaderPool.BagLoaded.class, Duration.ofSeconds(20));
    try {
      assertEquals(slide.toString(), loaded.decoded().bag().slidePath());
      assertEquals(2, loaded.decoded().patches());
      assertEquals(5, loaded.decoded().bag().key());
    } finally {
      loaded.decoded().release();
    }
  }

  @Test
  void aSlideThisNodesManifestLacksFailsTheBagNamingIt() {
    TestProbe<LoaderPool.Loaded> probe = kit.createTestProbe();
    BagRef sent = new BagRef("elsewhere", slide.toString(), 1, new int[] {0, 0}, 32, 0, 0, 6);
    pool.tell(new LoaderPool.LoadBag(sent, probe.getRef()));
    LoaderPool.BagFailed failed = probe.expectMessageClass(LoaderPool.BagFailed.class, Duration.ofSeconds(20));
    assertTrue(failed.reason().contains("'elsewhere' is not in this node's manifest"), failed.reason());
    assertEquals(6, failed.bag().key());
  }
}
