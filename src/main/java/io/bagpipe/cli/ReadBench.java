package io.bagpipe.cli;

import com.sun.management.OperatingSystemMXBean;
import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideSettings;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Bagpipe's side of {@code bench read}: random 224x224 level-0 patches through a
 * shared {@link SlidePool} into reused RGB buffers, with T threads. It replays
 * exactly the patch sequence of {@code read_limit.c}'s {@code raw} mode (same
 * xorshift64* generator and seeding, same slide and coordinate order), so the C
 * limit and Bagpipe decode the same tiles; slides are opened before the clock
 * starts, as the C probe does.
 */
final class ReadBench {

  static final int PATCH = 224;

  /** One measured run. */
  record Result(int threads, long patches, double seconds, double cpuSeconds) {
    double patchesPerSecond() {
      return patches / seconds;
    }

    double patchesPerCpuSecond() {
      return patches / cpuSeconds;
    }
  }

  private final List<Path> slides;
  private final List<PatchCoordinates> coords;
  private final SlideSettings settings;

  ReadBench(List<Path> slides, List<PatchCoordinates> coords, SlideSettings settings) {
    this.slides = slides;
    this.coords = coords;
    this.settings = new SlideSettings(settings.background(), Math.max(settings.maxOpenSlides(), slides.size()), settings.decoder());
  }

  /** Reads {@code patches} patches with {@code threads} threads; {@code seed} as the C probe's. */
  Result run(int threads, long patches, long seed) throws Exception {
    try (SlidePool pool = new SlidePool(settings)) {
      for (Path s : slides) {
        pool.acquire(s).close();
      }
      CyclicBarrier start = new CyclicBarrier(threads + 1);
      AtomicReference<Throwable> failure = new AtomicReference<>();
      List<Thread> workers = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int tid = t;
        long mine = patches / threads + (tid < patches % threads ? 1 : 0);
        Thread th =
            Thread.ofPlatform()
                .name("bench-read-" + t)
                .start(
                    () -> {
                      try {
                        ByteBuffer buf = ByteBuffer.allocateDirect(PATCH * PATCH * 3);
                        long[] rs = {seed * 7919 + tid * 104729L + 1};
                        start.await();
                        for (long i = 0; i < mine; i++) {
                          int s = (int) Long.remainderUnsigned(next(rs), slides.size());
                          PatchCoordinates c = coords.get(s);
                          int k = (int) Long.remainderUnsigned(next(rs), c.size());
                          try (SlidePool.Lease lease = pool.acquire(slides.get(s))) {
                            buf.clear();
                            lease.readRegion(0, c.x(k), c.y(k), PATCH, PATCH, buf);
                          }
                        }
                      } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                      }
                    });
        workers.add(th);
      }
      OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      start.await();
      long t0 = System.nanoTime();
      long c0 = os.getProcessCpuTime();
      for (Thread th : workers) {
        th.join();
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      double cpu = (os.getProcessCpuTime() - c0) / 1e9;
      if (failure.get() != null) {
        throw new IllegalStateException("read benchmark failed: " + failure.get().getMessage(), failure.get());
      }
      return new Result(threads, patches, secs, cpu);
    }
  }

  /** xorshift64*, as read_limit.c's {@code xs}. */
  private static long next(long[] s) {
    long x = s[0];
    x ^= x >>> 12;
    x ^= x << 25;
    x ^= x >>> 27;
    s[0] = x;
    return x * 2685821657736338717L;
  }
}
