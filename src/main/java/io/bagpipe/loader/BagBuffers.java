package io.bagpipe.loader;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Reused off-heap buffers for decoded bags. Decoding a bag allocates nothing once
 * the pool is warm: a buffer goes to a loader, carries the bag's pixels to its
 * worker, and comes back when the worker has uploaded it. At most {@code maxIdle}
 * idle buffers are kept; the number in use is bounded by the workers' prefetch.
 */
public final class BagBuffers {

  private final int maxIdle;
  private final List<ByteBuffer> idle = new ArrayList<>();
  private long allocations;

  public BagBuffers(int maxIdle) {
    if (maxIdle < 0) {
      throw new IllegalArgumentException("maxIdle must be >= 0, got " + maxIdle);
    }
    this.maxIdle = maxIdle;
  }

  /** A direct buffer of at least {@code bytes} bytes, cleared and limited to {@code bytes}. */
  public synchronized ByteBuffer take(int bytes) {
    int best = -1;
    for (int i = 0; i < idle.size(); i++) {
      int cap = idle.get(i).capacity();
      if (cap >= bytes && (best < 0 || cap < idle.get(best).capacity())) {
        best = i;
      }
    }
    ByteBuffer b;
    if (best >= 0) {
      b = idle.remove(best);
    } else {
      b = ByteBuffer.allocateDirect(bytes);
      allocations++;
    }
    b.clear().limit(bytes);
    return b;
  }

  /** Returns a buffer taken from this pool; the caller must not touch it afterwards. */
  public synchronized void give(ByteBuffer b) {
    if (idle.size() < maxIdle) {
      idle.add(b);
    } else if (maxIdle > 0) {
      int smallest = 0;
      for (int i = 1; i < idle.size(); i++) {
        if (idle.get(i).capacity() < idle.get(smallest).capacity()) {
          smallest = i;
        }
      }
      if (idle.get(smallest).capacity() < b.capacity()) {
        idle.set(smallest, b);
      }
    }
  }

  /** Direct buffers allocated so far (a warm pool stops allocating). */
  public synchronized long allocations() {
    return allocations;
  }
}
