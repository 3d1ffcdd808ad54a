package io.bagpipe.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.bag.BagRef;
import java.time.Duration;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A bag names a slide; the node's own manifest says which file that is, whatever path the bag carried. */
class LocalSlidesTest {

  @RegisterExtension static final LoaderTesting.OneSlide SLIDE = new LoaderTesting.OneSlide(300, 200);
  static ActorRef<LoaderPool.Command> pool;

  @BeforeAll
  static void start() {
    pool = SLIDE.kit().spawn(LoaderPool.create(
        LoaderPool.Setup.of(new LoaderSettings(1, 2, 3, 4), SLIDE.slides(), new BagBuffers(4))
            .withLocalSlides(Map.of("s", SLIDE.slide().toString()))));
  }

  @Test
  void aBagIsReadFromThisNodesFileForItsSlideNotFromThePathItCarried() {
    TestProbe<LoaderPool.Loaded> probe = SLIDE.kit().createTestProbe();
    BagRef sent = new BagRef("s", "/etc/passwd", 1, new int[] {0, 0, 40, 40}, 32, 0, 0, 5);
    pool.tell(new LoaderPool.LoadBag(sent, probe.getRef()));
    LoaderPool.BagLoaded loaded = probe.expectMessageClass(LoaderPool.BagLoaded.class, Duration.ofSeconds(20));
    try {
      assertEquals(SLIDE.slide().toString(), loaded.decoded().bag().slidePath());
      assertEquals(2, loaded.decoded().patches());
      assertEquals(5, loaded.decoded().bag().key());
    } finally {
      loaded.decoded().release();
    }
  }

  @Test
  void aSlideThisNodesManifestLacksFailsTheBagNamingIt() {
    TestProbe<LoaderPool.Loaded> probe = SLIDE.kit().createTestProbe();
    BagRef sent = new BagRef("elsewhere", SLIDE.slide().toString(), 1, new int[] {0, 0}, 32, 0, 0, 6);
    pool.tell(new LoaderPool.LoadBag(sent, probe.getRef()));
    LoaderPool.BagFailed failed = probe.expectMessageClass(LoaderPool.BagFailed.class, Duration.ofSeconds(20));
    assertTrue(failed.reason().contains("'elsewhere' is not in this node's manifest"), failed.reason());
    assertEquals(6, failed.bag().key());
  }
}
