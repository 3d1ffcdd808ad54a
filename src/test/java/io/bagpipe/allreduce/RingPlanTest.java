package io.bagpipe.allreduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RingPlanTest {

  static Stream<Arguments> plans() {
    List<Arguments> out = new ArrayList<>();
    for (int w = 1; w <= 8; w++) {
      for (int n : new int[] {0, 1, w - 1, w, w + 1, 7, 64, 101, 1000}) {
        if (n < 0) {
          continue;
        }
        for (int chunk : new int[] {1, 3, 16, 1 << 20}) {
          out.add(Arguments.of(w, n, chunk));
        }
      }
    }
    return out.stream();
  }

  @ParameterizedTest(name = "W={0} n={1} chunk={2}")
  @MethodSource("plans")
  void segmentsAreContiguousNearEqualAndCoverTheVector(int w, int n, int chunk) {
    RingPlan p = new RingPlan(w, n, chunk);
    int next = 0;
    for (int s = 0; s < w; s++) {
      assertEquals(next, p.segmentStart(s));
      int len = p.segmentLength(s);
      assertTrue(len == n / w || len == n / w + 1, "segment " + s + " has " + len);
      int c0 = p.segmentStart(s);
      for (int c = 0; c < p.chunks(s); c++) {
        assertEquals(c0, p.chunkStart(s, c));
        assertTrue(p.chunkLength(s, c) <= chunk);
        assertTrue(p.chunkLength(s, c) > 0 || len == 0, "only an empty segment has an empty chunk");
        c0 += p.chunkLength(s, c);
      }
      next += len;
      assertEquals(next, c0, "chunks cover segment " + s);
    }
    assertEquals(n, next);
  }

  /**
   * Runs the plan on W simulated ranks where each element counts how often each
   * rank's contribution went into it: at the end every rank must hold, for every
   * element, each rank's contribution exactly once, and each rank's copy of a
   * segment must come from that segment's owner.
   */
  @ParameterizedTest(name = "W={0} n={1} chunk={2}")
  @MethodSource("plans")
  void everyRankEndsWithEveryContributionExactlyOnce(int w, int n, int chunk) {
    RingPlan p = new RingPlan(w, n, chunk);
    int[][][] v = new int[w][n][w]; // rank, element, contributions per rank
    boolean[][] finished = new boolean[w][n];
    for (int r = 0; r < w; r++) {
      for (int i = 0; i < n; i++) {
        v[r][i][r] = 1;
      }
    }
    for (int t = 0; t < p.steps(); t++) {
      int[][][] sent = new int[w][][];
      for (int r = 0; r < w; r++) {
        int seg = p.sendSegment(r, t);
        assertEquals(p.receiveSegment((r + 1) % w, t), seg, "send and receive match at step " + t);
        if (!p.reduces(t)) {
          int from = p.segmentStart(seg);
          for (int i = from; i < from + p.segmentLength(seg); i++) {
            assertTrue(finished[r][i], "rank " + r + " sends unfinished element " + i + " in all-gather");
          }
        }
        sent[r] = new int[p.segmentLength(seg)][];
        for (int i = 0; i < sent[r].length; i++) {
          sent[r][i] = v[r][p.segmentStart(seg) + i].clone();
        }
      }
      for (int r = 0; r < w; r++) {
        int left = (r + w - 1) % w;
        int seg = p.receiveSegment(r, t);
        int from = p.segmentStart(seg);
        for (int i = 0; i < sent[left].length; i++) {
          if (p.reduces(t)) {
            for (int k = 0; k < w; k++) {
              v[r][from + i][k] += sent[left][i][k];
            }
            if (p.finishes(t)) {
              assertEquals(p.ownedSegment(r), seg);
              finished[r][from + i] = true;
            }
          } else {
            v[r][from + i] = sent[left][i];
            finished[r][from + i] = true;
          }
        }
      }
    }
    for (int r = 0; r < w; r++) {
      for (int i = 0; i < n; i++) {
        for (int k = 0; k < w; k++) {
          assertEquals(1, v[r][i][k], "rank " + r + " element " + i + " has rank " + k + "'s contribution");
        }
        assertTrue(w == 1 || finished[r][i]);
      }
    }
  }

  @ParameterizedTest(name = "W={0} n={1} chunk={2}")
  @MethodSource("plans")
  void eachRankSendsTwoWMinusOneOverWOfTheVector(int w, int n, int chunk) {
    RingPlan p = new RingPlan(w, n, chunk);
    for (int r = 0; r < w; r++) {
      long sent = 0;
      for (int t = 0; t < p.steps(); t++) {
        sent += p.segmentLength(p.sendSegment(r, t));
      }
      // 2(W-1) segments of floor(n/W) or ceil(n/W) floats each
      assertTrue(sent >= 2L * (w - 1) * (n / w) && sent <= 2L * (w - 1) * ((n + w - 1) / w), "rank " + r + " sent " + sent);
    }
  }

  @ParameterizedTest(name = "W={0}")
  @MethodSource("worlds")
  void outOfRangeArgumentsAreRefused(int w) {
    RingPlan p = new RingPlan(w, 10, 4);
    assertThrows(IllegalArgumentException.class, () -> p.sendSegment(w, 0));
    assertThrows(IllegalArgumentException.class, () -> p.segmentStart(-1));
    assertThrows(IllegalArgumentException.class, () -> p.chunkStart(0, p.chunks(0)));
    assertThrows(IllegalArgumentException.class, () -> new RingPlan(0, 10, 4));
    assertThrows(IllegalArgumentException.class, () -> new RingPlan(w, 10, 0));
  }

  static Stream<Integer> worlds() {
    return Stream.of(1, 2, 3, 8);
  }
}
