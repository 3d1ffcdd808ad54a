package io.bagpipe.loader;

import io.bagpipe.bag.BagRef;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Decoded uint8 patches kept across epochs on one node, off the Java heap, within a
 * byte budget ({@code bagpipe.loader.cache}); MONAI's CacheDataset when the patches fit,
 * its SmartCache when they do not. The node's loaders share one cache; every method
 * is thread-safe (one lock, held for the index update and the copy of one patch).
 *
 * <p><b>What identifies a patch.</b> Its pixels depend on the slide file, the level-0
 * {@code x,y}, the patch size, and the level or target mpp it is read at
 * ({@link BagRef}); bag, label and epoch do not matter, so a patch shared by a
 * training and a validation bag, or by two epochs' bags, is one entry.
 *
 * <p><b>Memory.</b> Every entry is one slot of {@code slotBytes} bytes
 * ({@code patchSize² × 3}), fixed by the first patch stored; patches of another size
 * are neither stored nor served. The cache holds at most {@code budget / slotBytes}
 * slots, carved from slabs of up to 64 MiB that a shared {@link Arena} allocates as
 * the slots fill; so the bytes allocated never pass the budget, and nothing is
 * allocated for a budget no patch reaches. {@link #close()} frees them at once. On the
 * heap each entry costs one small key in a hash map (under 0.1% of a 224 px patch).
 *
 * <p><b>Admission and replacement.</b> A patch that was read from the slide is stored
 * if a slot is free. Once the cache is full, each training epoch may replace
 * {@code round(replace-fraction × entries)} entries (at least one when the fraction is
 * above 0), counted from the epoch's start: a patch read from the slide then evicts
 * the entry that was stored first (slots are replaced in a circle, so the oldest
 * entry always goes) and takes its slot; when the epoch's quota is spent, later
 * misses are not stored. An epoch starts when the first training bag of a higher
 * epoch than any seen is loaded; validation bags never start one. For one sequence of
 * requests the outcome is deterministic; with several loader threads the order of
 * misses within an epoch, and so which patches enter, can differ from run to run,
 * but the number replaced per epoch does not, and the bytes served are the decoded
 * bytes either way.
 */
public final class PatchCache implements AutoCloseable {

  /** Largest slab: big enough that slabs stay few, small enough not to overshoot a small budget's use. */
  static final long SLAB_BYTES = 64L << 20;

  /**
   * Counters since the cache was made.
   *
   * @param hits patches served from the cache
   * @param misses patches looked up and not found (then read from the slide)
   * @param stored patches stored, replacements included
   * @param replaced entries evicted for a newer patch
   * @param entries patches held now
   * @param bytes bytes of the patches held now ({@code entries × slotBytes})
   * @param allocatedBytes off-heap bytes allocated for slots, at most the budget
   */
  public record Stats(long hits, long misses, long stored, long replaced, int entries, long bytes,
      long allocatedBytes) {}

  private record Source(String slidePath, int patchSize, int level, double targetMpp) {}

  private record Key(int source, int x, int y) {}

  private final long budget;
  private final double replaceFraction;
  private final Arena arena = Arena.ofShared();
  private final Map<Source, Integer> sources = new HashMap<>();
  private final Map<Key, Integer> slotOf = new HashMap<>();
  /** The key held by each slot, in slot order; slots below its size are full. */
  private final List<Key> keyOf = new ArrayList<>();
  private final List<ByteBuffer> slabs = new ArrayList<>();
  private int slotBytes;
  private int capacity;
  private int slotsPerSlab;
  /** The slot replaced next once the cache is full: the oldest entry. */
  private int hand;
  private int epoch = Integer.MIN_VALUE;
  private long quota;
  private long hits;
  private long misses;
  private long stored;
  private long replaced;
  private long allocated;
  private boolean closed;

  public PatchCache(PatchCacheSettings settings) {
    if (!settings.enabled()) {
      throw new IllegalArgumentException("a patch cache needs bagpipe.loader.cache.budget > 0");
    }
    this.budget = settings.budget();
    this.replaceFraction = settings.replaceFraction();
  }

  /** A small number naming what {@code bag}'s patches are read from and at (slide, size, level, mpp), for lookups. */
  public synchronized int source(BagRef bag) {
    Source s = new Source(bag.slidePath(), bag.patchSize(), bag.level(), bag.targetMpp());
    return sources.computeIfAbsent(s, k -> sources.size());
  }

  /**
   * A training bag of {@code bagEpoch} is about to be loaded: when it is the highest
   * epoch seen, a new epoch starts and may replace {@code round(fraction × entries)}
   * entries. Validation bags (epoch -1) and older epochs change nothing.
   */
  public synchronized void epoch(int bagEpoch) {
    if (bagEpoch < 0 || bagEpoch <= epoch) {
      return;
    }
    epoch = bagEpoch;
    int entries = keyOf.size();
    quota = replaceFraction == 0 || entries == 0 ? 0 : Math.max(1, Math.round(replaceFraction * entries));
  }

  /**
   * Copies patch {@code (x, y)} of {@code source} into {@code target} at absolute
   * {@code offset} ({@code bytes} bytes) when it is cached, and counts a hit; otherwise
   * counts a miss and returns false, leaving {@code target} as it was.
   */
  public synchronized boolean read(int source, int x, int y, ByteBuffer target, int offset, int bytes) {
    open();
    Integer slot = bytes == slotBytes ? slotOf.get(new Key(source, x, y)) : null;
    if (slot == null) {
      misses++;
      return false;
    }
    target.put(offset, slabs.get(slot / slotsPerSlab), (slot % slotsPerSlab) * slotBytes, bytes);
    hits++;
    return true;
  }

  /**
   * Offers a patch just read from its slide, {@code bytes} bytes of {@code source} at
   * absolute {@code offset}: stored when a slot is free, or in place of the oldest entry
   * while this epoch's replacements last (class comment); returns whether it was stored.
   */
  public synchronized boolean offer(int source, int x, int y, ByteBuffer from, int offset, int bytes) {
    open();
    if (slotBytes == 0) {
      slotBytes = bytes;
      capacity = (int) Math.min(budget / bytes, Integer.MAX_VALUE - 8);
      slotsPerSlab = (int) Math.max(1, Math.min(SLAB_BYTES / bytes, Integer.MAX_VALUE / bytes));
    }
    Key key = new Key(source, x, y);
    if (bytes != slotBytes || capacity == 0 || slotOf.containsKey(key)) {
      return false;
    }
    int slot;
    if (keyOf.size() < capacity) {
      slot = keyOf.size();
      keyOf.add(key);
      if (slot / slotsPerSlab == slabs.size()) {
        long slots = Math.min(slotsPerSlab, capacity - (long) slot);
        slabs.add(arena.allocate(slots * slotBytes, 64).asByteBuffer());
        allocated += slots * slotBytes;
      }
    } else if (quota > 0) {
      slot = hand;
      hand = (hand + 1) % capacity;
      quota--;
      replaced++;
      slotOf.remove(keyOf.set(slot, key));
    } else {
      return false;
    }
    slabs.get(slot / slotsPerSlab).put((slot % slotsPerSlab) * slotBytes, from, offset, bytes);
    slotOf.put(key, slot);
    stored++;
    return true;
  }

  /** Patches this cache holds at most once its slot size is known (0 before the first patch is offered). */
  public synchronized int capacity() {
    return capacity;
  }

  public synchronized Stats stats() {
    return new Stats(hits, misses, stored, replaced, keyOf.size(), (long) keyOf.size() * slotBytes, allocated);
  }

  /** Bytes of the patches held now. */
  public synchronized long bytes() {
    return (long) keyOf.size() * slotBytes;
  }

  /** Frees the off-heap memory; later reads and offers fail. Call only when no loader uses the cache. */
  @Override
  public synchronized void close() {
    if (!closed) {
      closed = true;
      slotOf.clear();
      keyOf.clear();
      slabs.clear();
      arena.close();
    }
  }

  private void open() {
    if (closed) {
      throw new IllegalStateException("the patch cache was closed");
    }
  }
}
