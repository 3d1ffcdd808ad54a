package io.bagpipe.loader;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.bag.BagRef;
import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.slide.SlideFixtures;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Makes decoded bags for tests of their consumers, and the slide set-up of loader pool tests. */
public final class LoaderTesting {
  private LoaderTesting() {}

  /** A decoded bag of {@code bag}'s size with zero pixels, in a buffer from {@code buffers}. */
  public static DecodedBag decoded(BagRef bag, BagBuffers buffers) {
    return new DecodedBag(bag, buffers.take(bag.size() * bag.patchSize() * bag.patchSize() * 3), buffers, 0);
  }

  /**
   * For a whole test class: an actor test kit, one vips-written slide {@code s} of the given size
   * in a folder of its own, and a {@link SlidePool} (white background, 4 handles) to read it. Made
   * before the class's {@code @BeforeAll} methods, so they may spawn pools on it; after the last
   * test the kit is shut down, the pool closed and the folder deleted. Register it with
   * {@code @RegisterExtension static final LoaderTesting.OneSlide SLIDE = new LoaderTesting.OneSlide(w, h);}.
   */
  public static final class OneSlide implements BeforeAllCallback, AfterAllCallback {
    private final int width;
    private final int height;
    private final ActorTestKit kit = ActorTestKit.create();
    private Path dir;
    private Path slide;
    private SlidePool slides;

    public OneSlide(int width, int height) {
      this.width = width;
      this.height = height;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
      dir = Files.createTempDirectory("bagpipe-" + context.getRequiredTestClass().getSimpleName() + "-");
      slide = SlideFixtures.vipsSlide(dir, "s", width, height);
      slides = new SlidePool(new SlideSettings(SlideFixtures.WHITE, 4, SlideDecoder.AUTO));
    }

    @Override
    public void afterAll(ExtensionContext context) throws IOException {
      kit.shutdownTestKit();
      slides.close();
      TrainingFixtures.deleteTree(dir);
    }

    /** The class's test kit. */
    public ActorTestKit kit() {
      return kit;
    }

    /** The class's folder, holding the slide. */
    public Path dir() {
      return dir;
    }

    /** The slide {@code s}. */
    public Path slide() {
      return slide;
    }

    /** The slide pool the class's loader pools read through. */
    public SlidePool slides() {
      return slides;
    }
  }
}
