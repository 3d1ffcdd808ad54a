package io.bagpipe.slide;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A bounded set of open slide handles shared by threads, so a slide is opened
 * once and then read by every bag that needs it (the reference article re-opens
 * the slide for every bag; that costs a cold tile cache and ~7 ms each time).
 *
 * <p>Threads {@link #acquire} a {@link Lease} on a slide, read through it, and
 * close the lease. A handle with no lease is idle. When more than
 * {@code maxOpenSlides} handles are open, idle handles are closed, least recently
 * acquired first; a handle in use is never closed. When every handle is in use the
 * pool opens one more rather than block, and shrinks back as leases end, so the
 * number of open handles is at most {@code max(maxOpenSlides, leases held)}.
 *
 * <p>A slide is opened by the first thread that needs it, outside the pool's
 * lock; other threads asking for the same slide wait for that open. A handle
 * whose read failed is discarded, and the next lease opens the file anew.
 */
public final class SlidePool implements AutoCloseable {

  private final SlideSettings settings;
  private final Object lock = new Object();
  private final LinkedHashMap<Path, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
  private boolean closed;
  private long opens;

  public SlidePool(SlideSettings settings) {
    this.settings = settings;
  }

  /**
   * A lease on an open slide; close it when the read is done (try-with-resources).
   * Reads through {@link #readRegion} mark the handle broken when OpenSlide fails.
   */
  public final class Lease implements AutoCloseable {
    private final Entry entry;
    private final Slide slide;
    private boolean released;

    private Lease(Entry entry, Slide slide) {
      this.entry = entry;
      this.slide = slide;
    }

    /** The leased slide (metadata and reads); valid until this lease is closed. */
    public Slide slide() {
      return slide;
    }

    /** {@link Slide#readRegion}; a failure discards the handle from the pool. */
    public void readRegion(int level, long x, long y, int width, int height, ByteBuffer dest) {
      try {
        slide.readRegion(level, x, y, width, height, dest);
      } catch (SlideException e) {
        entry.broken = true;
        throw e;
      }
    }

    @Override
    public void close() {
      if (!released) {
        released = true;
        release(entry);
      }
    }
  }

  private static final class Entry {
    final Path path;
    final CompletableFuture<Slide> slide = new CompletableFuture<>();
    int users;
    volatile boolean broken;

    Entry(Path path) {
      this.path = path;
    }
  }

  /**
   * Leases the slide at {@code path}, opening it if no handle is open.
   *
   * @throws SlideException when the slide can't be opened (nothing is cached)
   * @throws IllegalStateException when the pool is closed
   */
  public Lease acquire(Path path) {
    Path key = path.toAbsolutePath().normalize();
    Entry e;
    boolean opener = false;
    synchronized (lock) {
      if (closed) {
        throw new IllegalStateException("slide pool is closed");
      }
      e = entries.get(key);
      if (e == null || e.broken) {
        e = new Entry(key);
        entries.put(key, e);
        opener = true;
        opens++;
      }
      e.users++;
    }
    if (opener) {
      try {
        e.slide.complete(Slide.open(key, settings));
      } catch (RuntimeException ex) {
        synchronized (lock) {
          e.users--;
          entries.remove(key, e);
        }
        e.slide.completeExceptionally(ex);
        throw ex;
      }
      closeAll(evictIdle());
    }
    try {
      return new Lease(e, e.slide.join());
    } catch (CompletionException ce) {
      synchronized (lock) {
        e.users--;
      }
      throw (RuntimeException) ce.getCause();
    }
  }

  private void release(Entry e) {
    List<Slide> toClose;
    synchronized (lock) {
      e.users--;
      if (e.broken) {
        entries.remove(e.path, e);
      }
      toClose = evictIdle();
      if (e.broken && e.users == 0) {
        toClose.add(e.slide.join());
      }
    }
    closeAll(toClose);
  }

  /** Under the lock: removes idle handles, oldest first, until within bounds. */
  private List<Slide> evictIdle() {
    List<Slide> out = new ArrayList<>();
    synchronized (lock) {
      int excess = entries.size() - settings.maxOpenSlides();
      for (Iterator<Entry> it = entries.values().iterator(); excess > 0 && it.hasNext(); ) {
        Entry e = it.next();
        if (e.users == 0 && e.slide.isDone() && !e.slide.isCompletedExceptionally()) {
          it.remove();
          out.add(e.slide.join());
          excess--;
        }
      }
    }
    return out;
  }

  private static void closeAll(List<Slide> slides) {
    for (Slide s : slides) {
      s.close();
    }
  }

  /** Handles open now (idle and leased). */
  public int openCount() {
    synchronized (lock) {
      return entries.size();
    }
  }

  /** How many times a slide file was opened since the pool was made. */
  public long openings() {
    synchronized (lock) {
      return opens;
    }
  }

  /** Closes every handle; leases still held keep their slide until they end. */
  @Override
  public void close() {
    List<Slide> toClose = new ArrayList<>();
    synchronized (lock) {
      closed = true;
      for (Iterator<Entry> it = entries.values().iterator(); it.hasNext(); ) {
        Entry e = it.next();
        if (e.users == 0 && e.slide.isDone() && !e.slide.isCompletedExceptionally()) {
          toClose.add(e.slide.join());
          it.remove();
        } else {
          e.broken = true;
        }
      }
    }
    closeAll(toClose);
  }
}
