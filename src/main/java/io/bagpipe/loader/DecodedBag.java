package io.bagpipe.loader;

import io.bagpipe.bag.BagRef;
import java.nio.ByteBuffer;

/**
 * A bag's patches decoded to uint8 RGB, {@code patches x size x size x 3} bytes
 * (NHWC) in an off-heap buffer borrowed from {@link BagBuffers}. It stays on the
 * node that decoded it. The consumer calls {@link #release()} once the pixels are
 * on the device; the buffer is then reused for another bag.
 */
public final class DecodedBag {

  /** Most bytes one decoded bag may take: a direct {@link ByteBuffer} holds at most {@code Integer.MAX_VALUE}. */
  public static final long MAX_BYTES = Integer.MAX_VALUE;

  private final BagRef bag;
  private final ByteBuffer pixels;
  private final BagBuffers owner;
  private final long decodeNanos;
  private final int cacheHits;
  private final int cacheMisses;
  private final long cacheBytes;
  private boolean released;

  DecodedBag(BagRef bag, ByteBuffer pixels, BagBuffers owner, long decodeNanos) {
    this(bag, pixels, owner, decodeNanos, 0, 0, 0);
  }

  DecodedBag(BagRef bag, ByteBuffer pixels, BagBuffers owner, long decodeNanos, int cacheHits, int cacheMisses,
      long cacheBytes) {
    this.bag = bag;
    this.pixels = pixels;
    this.owner = owner;
    this.decodeNanos = decodeNanos;
    this.cacheHits = cacheHits;
    this.cacheMisses = cacheMisses;
    this.cacheBytes = cacheBytes;
  }

  /**
   * A bag whose pixels are already in memory (benchmarks of the model step, tests):
   * {@code pixels} holds {@code bag.size() * size * size * 3} bytes; release does nothing.
   */
  public static DecodedBag inMemory(BagRef bag, ByteBuffer pixels) {
    String tooBig = tooBig(bag);
    if (tooBig != null) {
      throw new IllegalArgumentException(tooBig);
    }
    long bytes = bytes(bag);
    if (pixels.capacity() < bytes) {
      throw new IllegalArgumentException("bag " + bag.key() + " needs " + bytes + " bytes, buffer has " + pixels.capacity());
    }
    return new DecodedBag(bag, pixels.duplicate().clear().limit((int) bytes), new BagBuffers(0), 0);
  }

  /**
   * Bytes of {@code bag}'s decoded pixels, {@code patches x size x size x 3}, or of its feature rows,
   * {@code rows x D x 4} (float32, native order), computed without overflow.
   */
  public static long bytes(BagRef bag) {
    if (bag.features()) {
      return (long) bag.size() * bag.featureDim() * Float.BYTES;
    }
    return (long) bag.size() * bag.patchSize() * bag.patchSize() * 3;
  }

  /**
   * Why {@code bag} cannot be decoded into one buffer (its pixels exceed {@link #MAX_BYTES}),
   * naming the slide, the patch count and size and the settings to lower; null when it fits.
   */
  public static String tooBig(BagRef bag) {
    long bytes = bytes(bag);
    if (bytes <= MAX_BYTES) {
      return null;
    }
    return "bag " + bag.key() + " of slide '" + bag.slideId() + "' has " + bag.size() + " patches of "
        + bag.patchSize() + "x" + bag.patchSize() + " px: " + bytes + " bytes decoded, more than one buffer holds ("
        + MAX_BYTES + " bytes); lower bagpipe.plan.bag-size (\"all\" takes every patch of the slide) or"
        + " bagpipe.plan.patch-size";
  }

  public BagRef bag() {
    return bag;
  }

  /** Number of patches. */
  public int patches() {
    return bag.size();
  }

  /** Side of each square patch in pixels. */
  public int patchSize() {
    return bag.patchSize();
  }

  /** The pixels: a view at position 0 with limit {@code patches * size * size * 3}; do not write. */
  public ByteBuffer pixels() {
    if (released) {
      throw new IllegalStateException("bag " + bag.key() + " was released");
    }
    return pixels.duplicate().position(0);
  }

  /** Wall time the loaders spent decoding this bag (summed over its chunks). */
  public long decodeNanos() {
    return decodeNanos;
  }

  /** Patches of this bag copied from the node's {@link PatchCache} (0 without a cache). */
  public int cacheHits() {
    return cacheHits;
  }

  /** Patches of this bag looked up in the node's {@link PatchCache} and read from the slide (0 without a cache). */
  public int cacheMisses() {
    return cacheMisses;
  }

  /** Bytes the node's {@link PatchCache} held when this bag was decoded (0 without a cache). */
  public long cacheBytes() {
    return cacheBytes;
  }

  /** Gives the buffer back to the pool; idempotent. */
  public void release() {
    if (!released) {
      released = true;
      owner.give(pixels);
    }
  }
}
