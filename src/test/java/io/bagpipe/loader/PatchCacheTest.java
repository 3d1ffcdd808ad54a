package io.bagpipe.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.bagpipe.bag.BagRef;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** The cache's bookkeeping without slides: budget, hits, replacement per epoch. */
class PatchCacheTest {

  static final int BYTES = 8 * 8 * 3;

  /** A patch whose bytes say which patch it is. */
  static ByteBuffer patch(int id) {
    ByteBuffer b = ByteBuffer.allocateDirect(BYTES);
    for (int i = 0; i < BYTES; i++) {
      b.put(i, (byte) (id * 31 + i));
    }
    return b;
  }

  static PatchCache cache(long budget, double fraction) {
    return new PatchCache(new PatchCacheSettings(budget, fraction));
  }

  /** Which of patches {@code 0..n-1} (of source 0, at x = id) the cache holds; reads count as hits or misses. */
  static List<Integer> held(PatchCache c, int n) {
    List<Integer> ids = new ArrayList<>();
    ByteBuffer out = ByteBuffer.allocateDirect(BYTES);
    for (int id = 0; id < n; id++) {
      if (c.read(0, id, 0, out, 0, BYTES)) {
        assertEquals(patch(id), out.clear(), "patch " + id + " comes back as stored");
        ids.add(id);
      }
    }
    return ids;
  }

  @ParameterizedTest
  @CsvSource({"1, 0", "10, 0", "10, 100", "1000, 191", "1000, 0"})
  void storesNoMoreThanTheBudgetHolds(int slots, int extra) {
    long budget = (long) slots * BYTES + extra;
    try (PatchCache c = cache(budget, 0.5)) {
      c.epoch(0);
      for (int id = 0; id < slots * 3; id++) {
        c.offer(0, id, 0, patch(id), 0, BYTES);
        PatchCache.Stats s = c.stats();
        assertTrue(s.bytes() <= budget && s.allocatedBytes() <= budget, s + " within " + budget);
      }
      PatchCache.Stats s = c.stats();
      assertEquals(slots, s.entries());
      assertEquals((long) slots * BYTES, s.bytes());
      assertEquals((long) slots * BYTES, s.allocatedBytes());
      assertEquals(slots, c.capacity());
      assertEquals(0, s.replaced(), "the first epoch only fills free slots");
    }
  }

  @Test
  void aBudgetBelowOnePatchStoresNothing() {
    try (PatchCache c = cache(BYTES - 1, 0.5)) {
      assertFalse(c.offer(0, 1, 2, patch(1), 0, BYTES));
      assertFalse(c.read(0, 1, 2, ByteBuffer.allocateDirect(BYTES), 0, BYTES));
      assertEquals(0, c.stats().allocatedBytes());
    }
  }

  @Test
  void countsHitsAndMissesAndServesTheStoredBytesAtTheOffsetAsked() {
    try (PatchCache c = cache(1 << 20, 0)) {
      ByteBuffer bag = ByteBuffer.allocateDirect(4 * BYTES);
      assertFalse(c.read(0, 5, 7, bag, 2 * BYTES, BYTES));
      bag.put(2 * BYTES, patch(3), 0, BYTES);
      assertTrue(c.offer(0, 5, 7, bag, 2 * BYTES, BYTES));
      assertFalse(c.offer(0, 5, 7, bag, 2 * BYTES, BYTES), "a patch is stored once");
      ByteBuffer other = ByteBuffer.allocateDirect(4 * BYTES);
      assertTrue(c.read(0, 5, 7, other, BYTES, BYTES));
      assertEquals(patch(3), other.slice(BYTES, BYTES));
      assertEquals(0, other.get(0), "bytes outside the patch are left alone");
      assertFalse(c.read(1, 5, 7, other, 0, BYTES), "another source is another patch");
      assertFalse(c.read(0, 7, 5, other, 0, BYTES), "x and y are not interchangeable");
      PatchCache.Stats s = c.stats();
      assertEquals(1, s.hits());
      assertEquals(3, s.misses());
      assertEquals(1, s.stored());
    }
  }

  @Test
  void patchesOfAnotherSizeAreNeitherStoredNorServed() {
    try (PatchCache c = cache(1 << 20, 0)) {
      assertTrue(c.offer(0, 0, 0, patch(0), 0, BYTES));
      assertFalse(c.offer(0, 1, 0, ByteBuffer.allocateDirect(2 * BYTES), 0, 2 * BYTES));
      assertFalse(c.read(0, 0, 0, ByteBuffer.allocateDirect(2 * BYTES), 0, 2 * BYTES));
      assertEquals(1, c.stats().entries());
    }
  }

  @Test
  void sourcesSeparateSlidesSizesLevelsAndMppButNotBagsOrEpochs() {
    try (PatchCache c = cache(1 << 20, 0)) {
      int[] xy = {0, 0};
      int a = c.source(new BagRef("a", "/s/a.tif", 0, xy, 8, 0, 0, 1));
      assertEquals(a, c.source(new BagRef("a", "/s/a.tif", 1, xy, 8, 0, 3, BagRef.trainingKey(3, 9))));
      assertEquals(a, c.source(new BagRef("a", "/s/a.tif", 0, xy, 8, 0, -1, -5)));
      List<Integer> others = List.of(
          c.source(new BagRef("a", "/s/b.tif", 0, xy, 8, 0, 0, 1)),
          c.source(new BagRef("a", "/s/a.tif", 0, xy, 16, 0, 0, 1)),
          c.source(new BagRef("a", "/s/a.tif", 0, xy, 8, 1, 0, 1)),
          c.source(new BagRef("a", "/s/a.tif", 0, xy, 8, 0, 0, 1, 0.5)));
      assertEquals(5, others.stream().distinct().count() + 1, "all differ from " + a + ": " + others);
      assertFalse(others.contains(a));
    }
  }

  /**
   * 20 slots, fraction 0.25: the first epoch fills them with patches 0..19; each later
   * epoch replaces exactly 5 entries, the oldest first, by the first 5 patches it
   * reads that are not cached; validation bags start no epoch.
   */
  @Test
  void smartCacheReplacesTheFractionPerEpochOldestFirst() {
    try (PatchCache c = cache(20L * BYTES, 0.25)) {
      c.epoch(0);
      for (int id = 0; id < 40; id++) {
        if (!c.read(0, id, 0, ByteBuffer.allocateDirect(BYTES), 0, BYTES)) {
          c.offer(0, id, 0, patch(id), 0, BYTES);
        }
      }
      assertEquals(range(0, 20), held(c, 100));
      for (int epoch = 1; epoch <= 3; epoch++) {
        c.epoch(epoch);
        c.epoch(-1); // a validation bag in between changes nothing
        c.epoch(epoch - 1); // nor does a late bag of the epoch before
        for (int id = 0; id < 100; id++) {
          if (!c.read(0, id, 0, ByteBuffer.allocateDirect(BYTES), 0, BYTES)) {
            c.offer(0, id, 0, patch(id), 0, BYTES);
          }
        }
        assertEquals(5L * epoch, c.stats().replaced(), "epoch " + epoch);
        assertEquals(20, c.stats().entries());
      }
      // epoch 1 evicted the oldest, 0..4, for its first misses 20..24; epoch 2 evicted 5..9
      // for its first misses, 0..4 again; epoch 3 evicted 10..14 for 5..9
      List<Integer> want = new ArrayList<>(range(0, 10));
      want.addAll(range(15, 25));
      assertEquals(want, held(c, 100));
      assertEquals(20L * BYTES, c.stats().bytes());
      assertEquals(20L * BYTES, c.stats().allocatedBytes());
    }
  }

  @Test
  void theSameRequestsGiveTheSameCache() {
    List<List<Integer>> outcomes = new ArrayList<>();
    for (int run = 0; run < 2; run++) {
      try (PatchCache c = cache(13L * BYTES, 0.1)) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(42);
        for (int epoch = 0; epoch < 6; epoch++) {
          c.epoch(epoch);
          for (int k = 0; k < 40; k++) {
            int id = r.nextInt(60);
            if (!c.read(0, id, 0, ByteBuffer.allocateDirect(BYTES), 0, BYTES)) {
              c.offer(0, id, 0, patch(id), 0, BYTES);
            }
          }
          assertEquals(epoch, c.stats().replaced(), "round(0.1 x 13) = 1 per epoch after the first");
        }
        outcomes.add(held(c, 60));
      }
    }
    assertEquals(outcomes.get(0), outcomes.get(1));
  }

  @Test
  void aFractionOfZeroKeepsTheFirstPatches() {
    try (PatchCache c = cache(4L * BYTES, 0)) {
      for (int epoch = 0; epoch < 3; epoch++) {
        c.epoch(epoch);
        for (int id = 0; id < 10; id++) {
          c.offer(0, id, 0, patch(id), 0, BYTES);
        }
      }
      assertEquals(range(0, 4), held(c, 10));
      assertEquals(0, c.stats().replaced());
    }
  }

  @Test
  void aClosedCacheRefusesWork() {
    PatchCache c = cache(1 << 20, 0);
    c.offer(0, 0, 0, patch(0), 0, BYTES);
    c.close();
    c.close();
    assertThrows(IllegalStateException.class, () -> c.read(0, 0, 0, ByteBuffer.allocateDirect(BYTES), 0, BYTES));
  }

  @Test
  void settingsNameTheKeyAtFault() {
    var ok = PatchCacheSettings.fromConfig(ConfigFactory.parseString("budget = \"2 GiB\", replace-fraction = 0.1"));
    assertEquals(2L << 30, ok.budget());
    assertTrue(ok.enabled());
    assertFalse(PatchCacheSettings.fromConfig(ConfigFactory.parseString("budget = 0, replace-fraction = 0")).enabled());
    var bad = assertThrows(IllegalArgumentException.class,
        () -> PatchCacheSettings.fromConfig(ConfigFactory.parseString("budget = lots, replace-fraction = 0.1")));
    assertTrue(bad.getMessage().contains("bagpipe.loader.cache.budget"), bad.getMessage());
    var frac = assertThrows(IllegalArgumentException.class,
        () -> PatchCacheSettings.fromConfig(ConfigFactory.parseString("budget = 1 MiB, replace-fraction = 1.5")));
    assertTrue(frac.getMessage().contains("bagpipe.loader.cache.replace-fraction"), frac.getMessage());
    var neg = assertThrows(IllegalArgumentException.class,
        () -> PatchCacheSettings.fromConfig(ConfigFactory.parseString("budget = -1, replace-fraction = 0.1")));
    assertTrue(neg.getMessage().contains("bagpipe.loader.cache.budget"), neg.getMessage());
  }

  static List<Integer> range(int from, int to) {
    List<Integer> r = new ArrayList<>();
    for (int i = from; i < to; i++) {
      r.add(i);
    }
    return r;
  }
}
