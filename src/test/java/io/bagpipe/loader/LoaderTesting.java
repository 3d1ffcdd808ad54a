package io.bagpipe.loader;

import io.bagpipe.bag.BagRef;

/** Makes decoded bags for tests of their consumers. */
public final class LoaderTesting {
  private LoaderTesting() {}

  /** A decoded bag of {@code bag}'s size with zero pixels, in a buffer from {@code buffers}. */
  public static DecodedBag decoded(BagRef bag, BagBuffers buffers) {
    return new DecodedBag(bag, buffers.take(bag.size() * bag.patchSize() * bag.patchSize() * 3), buffers, 0);
  }
}
