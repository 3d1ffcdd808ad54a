package io.bagpipe.bag;

import java.nio.charset.StandardCharsets;

/**
 * The plans' random numbers, fully specified here so that every JVM of a cluster
 * (and any later version) draws the same sequence: SplitMix64 (Steele, Lea and
 * Flood 2014; the generator behind {@link java.util.SplittableRandom}'s seeding)
 * with bounded integers by rejection, and slide ids hashed with 64-bit FNV-1a over
 * their UTF-8 bytes. Streams are keyed by several longs (seed, epoch, purpose,
 * slide hash) folded through the SplitMix64 finaliser.
 */
final class SplitMix64 {

  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  private long state;

  private SplitMix64(long state) {
    this.state = state;
  }

  /** A generator whose stream depends on every key, in order. */
  static SplitMix64 of(long... keys) {
    long h = 0;
    for (long k : keys) {
      h = mix(h + GOLDEN + k);
    }
    return new SplitMix64(h);
  }

  long nextLong() {
    state += GOLDEN;
    return mix(state);
  }

  /** Uniform in {@code [0, bound)}, {@code bound > 0}, without modulo bias. */
  int nextInt(int bound) {
    long limit = Long.MAX_VALUE - Long.MAX_VALUE % bound;
    long r;
    do {
      r = nextLong() >>> 1;
    } while (r >= limit);
    return (int) (r % bound);
  }

  /** Shuffles the first {@code prefix} places of {@code a} uniformly from all of {@code a} (partial Fisher-Yates). */
  void shufflePrefix(int[] a, int prefix) {
    for (int i = 0; i < prefix && i < a.length - 1; i++) {
      int j = i + nextInt(a.length - i);
      int t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  static long hash(String s) {
    long h = 0xcbf29ce484222325L;
    for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
      h = (h ^ (b & 0xFF)) * 0x100000001b3L;
    }
    return h;
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
