package io.bagpipe.loader;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What a node's {@link LoaderPool} has done so far, in counters that its actor bumps once
 * per bag and per task (never per patch) and that anyone may read at any time, e.g. a
 * metrics endpoint at scrape time. Counts only grow, except the two in-flight gauges.
 */
public final class LoaderMeter {

  private final AtomicLong bagsInFlight = new AtomicLong();
  private final AtomicLong tasksInFlight = new AtomicLong();
  private final AtomicLong bagsDecoded = new AtomicLong();
  private final AtomicLong bagsFailed = new AtomicLong();
  private final AtomicLong patchesDecoded = new AtomicLong();
  private final AtomicLong decodeNanos = new AtomicLong();
  private final AtomicLong cacheHits = new AtomicLong();
  private final AtomicLong cacheMisses = new AtomicLong();

  /** Bags asked for and not yet answered: the pool's queue of work. */
  public long bagsInFlight() {
    return bagsInFlight.get();
  }

  /** Decode tasks sent to the loaders and not yet finished. */
  public long tasksInFlight() {
    return tasksInFlight.get();
  }

  /** Bags answered with their pixels. */
  public long bagsDecoded() {
    return bagsDecoded.get();
  }

  /** Bags answered with a failure (a slide that could not be read, a bag too big). */
  public long bagsFailed() {
    return bagsFailed.get();
  }

  /** Patches of the decoded bags. */
  public long patchesDecoded() {
    return patchesDecoded.get();
  }

  /** Loader time spent on the decoded and failed bags' tasks, summed over loader threads. */
  public long decodeNanos() {
    return decodeNanos.get();
  }

  /** Patches served from the node's patch cache. */
  public long cacheHits() {
    return cacheHits.get();
  }

  /** Patches read from slides while the patch cache was on. */
  public long cacheMisses() {
    return cacheMisses.get();
  }

  void bagStarted(int tasks) {
    bagsInFlight.incrementAndGet();
    tasksInFlight.addAndGet(tasks);
  }

  void taskFinished(long nanos, int hits, int misses) {
    tasksInFlight.decrementAndGet();
    decodeNanos.addAndGet(nanos);
    if (hits + misses > 0) {
      cacheHits.addAndGet(hits);
      cacheMisses.addAndGet(misses);
    }
  }

  void bagDecoded(int patches) {
    bagsInFlight.decrementAndGet();
    bagsDecoded.incrementAndGet();
    patchesDecoded.addAndGet(patches);
  }

  void bagRefused() {
    bagsFailed.incrementAndGet();
  }

  void bagFailed() {
    bagsInFlight.decrementAndGet();
    bagsFailed.incrementAndGet();
  }
}
