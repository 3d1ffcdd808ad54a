package io.bagpipe.slide;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SlidePoolTest {

  @TempDir static Path dir;
  static Path a;
  static Path b;
  static Path c;

  @BeforeAll
  static void slides() throws Exception {
    a = SlideFixtures.vipsSlide(dir, "a", 900, 700);
    b = Files.copy(a, dir.resolve("b.tif"));
    c = Files.copy(a, dir.resolve("c.tif"));
  }

  static SlidePool pool(int maxOpen) {
    return new SlidePool(new SlideSettings(SlideFixtures.WHITE, maxOpen, SlideDecoder.AUTO));
  }

  @Test
  void aSlideIsOpenedOnceAndReused() {
    try (SlidePool pool = pool(4)) {
      for (int i = 0; i < 5; i++) {
        try (SlidePool.Lease lease = pool.acquire(a)) {
          lease.readRegion(0, 10L * i, 0, 32, 32, ByteBuffer.allocateDirect(32 * 32 * 3));
        }
      }
      try (SlidePool.Lease lease = pool.acquire(dir.resolve("sub/../a.tif"))) {
        assertEquals(a, lease.slide().path());
      }
      assertEquals(1, pool.openings());
      assertEquals(1, pool.openCount());
    }
  }

  @Test
  void evictsTheLeastRecentlyUsedIdleHandle() {
    try (SlidePool pool = pool(2)) {
      pool.acquire(a).close();
      pool.acquire(b).close();
      pool.acquire(a).close(); // a is now the most recent, b the least
      pool.acquire(c).close(); // evicts b
      assertEquals(2, pool.openCount());
      assertEquals(3, pool.openings());
      pool.acquire(a).close(); // still open
      assertEquals(3, pool.openings());
      pool.acquire(b).close(); // was evicted: opened again
      assertEquals(4, pool.openings());
      assertEquals(2, pool.openCount());
    }
  }

  @Test
  void neverClosesAHandleInUse() {
    try (SlidePool pool = pool(1)) {
      SlidePool.Lease held = pool.acquire(a);
      try (SlidePool.Lease other = pool.acquire(b)) {
        assertEquals(2, pool.openCount(), "over the bound while both are leased");
        assertFalse(held.slide().isClosed());
        held.readRegion(0, 0, 0, 16, 16, ByteBuffer.allocateDirect(16 * 16 * 3));
        other.readRegion(0, 0, 0, 16, 16, ByteBuffer.allocateDirect(16 * 16 * 3));
      }
      assertEquals(1, pool.openCount(), "b is idle and the oldest: closed");
      assertFalse(held.slide().isClosed());
      held.close();
      held.close();
      assertEquals(1, pool.openCount());
    }
  }

  @Test
  void failedOpenIsNotCachedAndNamesTheFile() {
    try (SlidePool pool = pool(2)) {
      Path missing = dir.resolve("missing.tif");
      SlideException e = assertThrows(SlideException.class, () -> pool.acquire(missing));
      assertTrue(e.getMessage().contains(missing.toString()));
      assertEquals(0, pool.openCount());
      assertThrows(SlideException.class, () -> pool.acquire(missing));
    }
  }

  @Test
  void aHandleWhoseReadFailedIsDiscarded() throws Exception {
    Path broken = Files.copy(a, dir.resolve("broken.tif"));
    try (RandomAccessFile f = new RandomAccessFile(broken.toFile(), "rw")) {
      f.seek(16);
      f.write(new byte[(int) (f.length() / 2)]);
    }
    try (SlidePool pool = pool(2)) {
      SlidePool.Lease lease = pool.acquire(broken);
      Slide first = lease.slide();
      assertThrows(
          SlideException.class, () -> lease.readRegion(0, 0, 0, 900, 700, ByteBuffer.allocateDirect(900 * 700 * 3)));
      lease.close();
      assertTrue(first.isClosed(), "a failed handle is closed once its lease ends");
      assertEquals(0, pool.openCount());
    }
  }

  @Test
  void closedPoolRefusesLeases() {
    SlidePool pool = pool(2);
    SlidePool.Lease lease = pool.acquire(a);
    pool.close();
    assertFalse(lease.slide().isClosed(), "a lease outlives the pool's close");
    lease.close();
    assertTrue(lease.slide().isClosed());
    assertThrows(IllegalStateException.class, () -> pool.acquire(a));
  }

  @Test
  void threadsShareHandlesAndReadTheSamePixels() throws Exception {
    List<Path> slides = List.of(a, b, c);
    int p = 48;
    byte[] expected;
    try (Slide s = Slide.open(a, SlideFixtures.WHITE, SlideDecoder.OPENSLIDE)) {
      ByteBuffer buf = ByteBuffer.allocate(p * p * 3);
      s.readRegion(0, 123, 45, p, p, buf);
      expected = buf.array();
    }
    try (SlidePool pool = pool(2);
        ExecutorService ex = Executors.newFixedThreadPool(4)) {
      List<Future<Integer>> results = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        int seed = t;
        results.add(
            ex.submit(
                () -> {
                  SplittableRandom rnd = new SplittableRandom(seed);
                  ByteBuffer buf = ByteBuffer.allocate(p * p * 3);
                  int ok = 0;
                  for (int i = 0; i < 150; i++) {
                    try (SlidePool.Lease lease = pool.acquire(slides.get(rnd.nextInt(3)))) {
                      buf.clear();
                      lease.readRegion(0, 123, 45, p, p, buf);
                      assertArrayEquals(expected, buf.array());
                      ok++;
                    }
                  }
                  return ok;
                }));
      }
      for (Future<Integer> f : results) {
        assertEquals(150, f.get());
      }
      assertTrue(pool.openCount() <= 2, "back within the bound once all leases ended");
    }
  }
}
