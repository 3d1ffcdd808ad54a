package io.bagpipe.allreduce;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.allreduce.AllReduce.Reduced;
import io.bagpipe.allreduce.AllReduceSettings.Transport;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

@Timeout(30)
class RingAllReduceTest {

  /** Small chunks and window so that even small vectors are pipelined and the window fills. */
  static AllReduceSettings settings(Duration timeout, Transport transport) {
    return new AllReduceSettings("127.0.0.1", 0, 64, 2, timeout, 0, transport, Path.of(System.getProperty("java.io.tmpdir")), 0);
  }

  static AllReduceSettings settings(Duration timeout) {
    return settings(timeout, Transport.AUTO);
  }

  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  /** W ranks, each with its own data port, as W workers of different JVMs would be. */
  List<RingAllReduce> ring(int world, long generation, AllReduceSettings s) throws Exception {
    return ring(generation, java.util.Collections.nCopies(world, s));
  }

  /** A ring whose rank {@code r} runs with {@code settings.get(r)}. */
  List<RingAllReduce> ring(long generation, List<AllReduceSettings> settings) throws Exception {
    int world = settings.size();
    List<DataPort> ports = new ArrayList<>();
    List<InetSocketAddress> addresses = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      DataPort p = DataPort.open(settings.get(r));
      open.add(p);
      ports.add(p);
      addresses.add(p.address());
    }
    List<RingAllReduce> ranks = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      RingAllReduce ar = new RingAllReduce(ports.get(r), generation, r, addresses, settings.get(r));
      open.add(ar);
      ranks.add(ar);
    }
    return ranks;
  }

  static List<Reduced> reduceAll(List<RingAllReduce> ranks, long round, float[][] g, int[] weights, boolean[] halts)
      throws Exception {
    List<CompletableFuture<Reduced>> fs = new ArrayList<>();
    for (int r = 0; r < ranks.size(); r++) {
      fs.add(ranks.get(r).reduce(r, round, g[r], weights[r], halts[r]).toCompletableFuture());
    }
    List<Reduced> out = new ArrayList<>();
    for (CompletableFuture<Reduced> f : fs) {
      out.add(f.get(20, TimeUnit.SECONDS));
    }
    return out;
  }

  static Reduced local(int world, long round, float[][] g, int[] weights, boolean[] halts) throws Exception {
    LocalAllReduce l = new LocalAllReduce(world);
    List<CompletableFuture<Reduced>> fs = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      fs.add(l.reduce(r, round, g[r], weights[r], halts[r]).toCompletableFuture());
    }
    return fs.getFirst().get();
  }

  @ParameterizedTest(name = "W={0} n={1} {2}")
  @CsvSource({"2,1,AUTO", "2,1001,AUTO", "3,2,AUTO", "3,1000,AUTO", "4,3,AUTO", "4,4099,AUTO", "4,0,AUTO",
      "2,1,TCP", "2,1001,TCP", "3,2,TCP", "3,1000,TCP", "4,3,TCP", "4,4099,TCP", "4,0,TCP"})
  void everyRankGetsTheWeightedAverageBitIdenticalAndAsLocalAllReduce(int world, int n, Transport t) throws Exception {
    List<RingAllReduce> ranks = ring(world, 1, settings(Duration.ofSeconds(10), t));
    float[][] g = new float[world][];
    int[] weights = new int[world];
    boolean[] halts = new boolean[world];
    for (int r = 0; r < world; r++) {
      g[r] = LocalAllReduceTest.gradient(r + 7, n);
      weights[r] = r + 1;
    }
    float[][] before = new float[world][];
    for (int r = 0; r < world; r++) {
      before[r] = g[r].clone();
    }
    List<Reduced> out = reduceAll(ranks, 5, g, weights, halts);
    Reduced expected = local(world, 5, g, weights, halts);
    int totalWeight = world * (world + 1) / 2;
    for (int r = 0; r < world; r++) {
      Reduced red = out.get(r);
      assertEquals(5, red.round());
      assertEquals(totalWeight, red.weight());
      assertFalse(red.halt());
      assertArrayEquals(out.getFirst().average(), red.average(), "rank " + r + " is bit-identical to rank 0");
      assertArrayEquals(before[r], g[r], "rank " + r + "'s gradient is not modified");
      for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int k = 0; k < world; k++) {
          sum += g[k][i];
        }
        assertEquals(sum / totalWeight, red.average()[i], 1e-5, "element " + i);
        assertEquals(expected.average()[i], red.average()[i], 1e-5, "element " + i + " as LocalAllReduce");
      }
    }
  }

  @ParameterizedTest(name = "W={0} {1}")
  @CsvSource({"2,AUTO", "3,AUTO", "4,AUTO", "2,TCP", "3,TCP", "4,TCP"})
  void roundsReuseTheConnectionsAndCarryWeightZeroAndHalt(int world, Transport t) throws Exception {
    List<RingAllReduce> ranks = ring(world, 3, settings(Duration.ofSeconds(10), t));
    int n = 333;
    for (long round = 0; round < 6; round++) {
      float[][] g = new float[world][];
      int[] weights = new int[world];
      boolean[] halts = new boolean[world];
      boolean allZero = round % 3 == 2;
      for (int r = 0; r < world; r++) {
        g[r] = allZero ? new float[n] : LocalAllReduceTest.gradient((int) round * 10 + r, n);
        weights[r] = allZero ? 0 : (r == 0 ? 0 : 2); // rank 0 skipped its bag: weight 0, zero gradient
        if (!allZero && r == 0) {
          g[r] = new float[n];
        }
        halts[r] = round == 4 && r == world - 1;
      }
      List<Reduced> out = reduceAll(ranks, round, g, weights, halts);
      for (int r = 0; r < world; r++) {
        Reduced red = out.get(r);
        assertEquals(round, red.round());
        assertEquals(round == 4, red.halt(), "halt is the OR of the ranks' bits, round " + round);
        assertArrayEquals(out.getFirst().average(), red.average());
        if (allZero) {
          assertEquals(0, red.weight());
          assertArrayEquals(new float[n], red.average(), "weight 0 gives zeros");
        } else {
          assertEquals(2 * (world - 1), red.weight());
          Reduced expected = local(world, round, g, weights, halts);
          for (int i = 0; i < n; i++) {
            assertEquals(expected.average()[i], red.average()[i], 1e-5);
          }
        }
      }
    }
  }

  @Test
  void aSingleRankShortCircuits() throws Exception {
    AllReduceSettings s = settings(Duration.ofSeconds(5));
    DataPort p = DataPort.open(s);
    open.add(p);
    RingAllReduce one = new RingAllReduce(p, 1, 0, List.of(p.address()), s);
    Reduced red = one.reduce(0, 0, new float[] {2, 4}, 2, true).toCompletableFuture().get(1, TimeUnit.SECONDS);
    assertArrayEquals(new float[] {1, 2}, red.average());
    assertTrue(red.halt());
    assertArrayEquals(new float[2], one.reduce(0, 1, new float[] {2, 4}, 0, false).toCompletableFuture().get().average());
  }

  @Test
  void aHandshakeForAnOlderGenerationIsRefused() throws Exception {
    AllReduceSettings s = settings(Duration.ofSeconds(5));
    List<RingAllReduce> ranks = ring(2, 7, s);
    ranks.getFirst().connected().toCompletableFuture().get(10, TimeUnit.SECONDS);
    ranks.get(1).connected().toCompletableFuture().get(10, TimeUnit.SECONDS);
    // a worker still on generation 6 tries to join rank 1's port
    InetSocketAddress target = portOf(ranks, 1);
    RingBrokenException e = assertThrows(RingBrokenException.class,
        () -> DataPort.connect(target, 6, 0, 1, 2, s, System.nanoTime() + 5_000_000_000L, c -> {}));
    assertTrue(e.getMessage().contains("stale ring generation 6"), e.getMessage());
    assertEquals(1, e.peerRank());
    assertEquals(target, e.peerAddress());
    // the live ring still works
    float[][] g = {{1, 2, 3}, {3, 2, 1}};
    List<Reduced> out = reduceAll(ranks, 0, g, new int[] {1, 1}, new boolean[2]);
    assertArrayEquals(new float[] {2, 2, 2}, out.get(1).average());
  }

  /** The data address of {@code rank}: {@link #ring} opened the ports first, in rank order. */
  private InetSocketAddress portOf(List<RingAllReduce> ranks, int rank) {
    return ((DataPort) open.get(rank)).address();
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aRankThatLeavesMidRoundFailsTheOthersNamingIt(Transport t) throws Exception {
    AllReduceSettings s = settings(Duration.ofSeconds(3), t);
    List<RingAllReduce> ranks = ring(3, 2, s);
    int n = 100_000;
    float[][] g = {LocalAllReduceTest.gradient(1, n), LocalAllReduceTest.gradient(2, n), LocalAllReduceTest.gradient(3, n)};
    reduceAll(ranks, 0, g, new int[] {1, 1, 1}, new boolean[3]);
    // round 1: ranks 0 and 2 contribute, rank 1 disappears instead
    long t0 = System.nanoTime();
    CompletableFuture<Reduced> f0 = ranks.get(0).reduce(0, 1, g[0], 1, false).toCompletableFuture();
    CompletableFuture<Reduced> f2 = ranks.get(2).reduce(2, 1, g[2], 1, false).toCompletableFuture();
    Thread.sleep(100);
    ranks.get(1).close();
    String rank1 = "rank 1 at " + portOf(ranks, 1);
    for (CompletableFuture<Reduced> f : List.of(f0, f2)) {
      ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
      RingBrokenException b = assertInstanceOf(RingBrokenException.class, e.getCause());
      assertTrue(b.getMessage().contains(rank1), b.getMessage());
      assertEquals(2, b.generation());
    }
    assertTrue(System.nanoTime() - t0 < s.timeout().toNanos(), "detected before the timeout");
    // a broken ring stays broken
    ExecutionException later = assertThrows(ExecutionException.class,
        () -> ranks.get(0).reduce(0, 2, g[0], 1, false).toCompletableFuture().get(5, TimeUnit.SECONDS));
    assertInstanceOf(RingBrokenException.class, later.getCause());
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aSilentNeighbourFailsTheRoundAfterTheTimeoutNamingIt(Transport t) throws Exception {
    AllReduceSettings s = settings(Duration.ofMillis(800), t);
    List<RingAllReduce> ranks = ring(2, 4, s);
    ranks.getFirst().connected().toCompletableFuture().get(10, TimeUnit.SECONDS);
    long t0 = System.nanoTime();
    // rank 1 never contributes to round 0
    CompletableFuture<Reduced> f0 = ranks.get(0).reduce(0, 0, new float[1000], 1, false).toCompletableFuture();
    ExecutionException e = assertThrows(ExecutionException.class, () -> f0.get(10, TimeUnit.SECONDS));
    double secs = (System.nanoTime() - t0) / 1e9;
    RingBrokenException b = assertInstanceOf(RingBrokenException.class, e.getCause());
    assertEquals(1, b.peerRank());
    assertTrue(b.getMessage().contains("rank 1 at " + portOf(ranks, 1)), b.getMessage());
    assertTrue(b.getMessage().contains("bagpipe.allreduce.timeout"), b.getMessage());
    assertTrue(secs >= 0.75 && secs < 5, "failed after " + secs + " s");
  }

  @Test
  void aRingThatCannotConnectFailsNamingTheNeighbour() throws Exception {
    AllReduceSettings s = settings(Duration.ofMillis(600));
    DataPort p = DataPort.open(s);
    open.add(p);
    InetSocketAddress nobody;
    try (java.nio.channels.ServerSocketChannel ss = java.nio.channels.ServerSocketChannel.open()) {
      ss.bind(new InetSocketAddress("127.0.0.1", 0));
      nobody = (InetSocketAddress) ss.getLocalAddress();
    }
    RingAllReduce r0 = new RingAllReduce(p, 1, 0, List.of(p.address(), nobody), s);
    open.add(r0);
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> r0.reduce(0, 0, new float[10], 1, false).toCompletableFuture().get(10, TimeUnit.SECONDS));
    assertTrue(e.getCause().getMessage().contains("rank 1 at " + nobody), e.getCause().getMessage());
  }

  @Test
  void ranksOnOneHostShareMemoryAndLeaveNoSegmentFiles(@TempDir Path dir) throws Exception {
    AllReduceSettings s = new AllReduceSettings("127.0.0.1", 0, 64, 2, Duration.ofSeconds(10), 0, Transport.AUTO, dir, 0);
    List<RingAllReduce> ranks = ring(3, 1, s);
    for (RingAllReduce r : ranks) {
      r.connected().toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertEquals("shared-memory", r.transport(), "rank " + r.rank());
    }
    try (var files = Files.list(dir)) {
      assertEquals(List.of(), files.toList(), "segment files are deleted once both sides mapped them");
    }
    float[][] g = {LocalAllReduceTest.gradient(1, 1000), LocalAllReduceTest.gradient(2, 1000), LocalAllReduceTest.gradient(3, 1000)};
    List<Reduced> out = reduceAll(ranks, 0, g, new int[] {1, 2, 3}, new boolean[3]);
    assertArrayEquals(local(3, 0, g, new int[] {1, 2, 3}, new boolean[3]).average(), out.get(2).average(), 1e-6f);
  }

  @Test
  void aRankConfiguredForTcpMakesBothOfItsLinksTcp() throws Exception {
    AllReduceSettings auto = settings(Duration.ofSeconds(10), Transport.AUTO);
    AllReduceSettings tcp = settings(Duration.ofSeconds(10), Transport.TCP);
    List<RingAllReduce> ranks = ring(1, List.of(tcp, auto, auto));
    for (RingAllReduce r : ranks) {
      r.connected().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
    assertEquals("tcp", ranks.get(0).transport(), "it offers TCP to rank 1 and declines rank 2's segment");
    assertEquals("shared-memory/tcp", ranks.get(1).transport(), "shared memory to rank 2, TCP from rank 0");
    assertEquals("tcp/shared-memory", ranks.get(2).transport(), "TCP to rank 0, shared memory from rank 1");
    float[][] g = {LocalAllReduceTest.gradient(4, 777), LocalAllReduceTest.gradient(5, 777), LocalAllReduceTest.gradient(6, 777)};
    List<Reduced> out = reduceAll(ranks, 0, g, new int[] {1, 1, 1}, new boolean[3]);
    assertArrayEquals(out.get(0).average(), out.get(1).average());
    assertArrayEquals(out.get(0).average(), out.get(2).average());
    assertArrayEquals(local(3, 0, g, new int[] {1, 1, 1}, new boolean[3]).average(), out.get(0).average(), 1e-6f);
  }

  @Test
  void aSegmentOpensOnlyWithItsNonceAndSizeInTheConfiguredDirectory(@TempDir Path dir) throws Exception {
    try (SharedMemoryLink.Segment made = SharedMemoryLink.Segment.create(dir, "test", 2, 64)) {
      assertEquals(null, SharedMemoryLink.Segment.open(dir, made.path(), made.nonce() + 1, made.bytes()),
          "another nonce: not the segment that was offered");
      assertEquals(null, SharedMemoryLink.Segment.open(dir, made.path(), made.nonce(), made.bytes() + 64));
      assertEquals(null, SharedMemoryLink.Segment.open(dir, dir.resolve("bagpipe-missing"), made.nonce(), made.bytes()),
          "a path this process cannot see (another host) declines");
      assertEquals(null, SharedMemoryLink.Segment.open(dir.resolve("elsewhere"), made.path(), made.nonce(), made.bytes()),
          "an offer outside this side's shared-memory-dir is never mapped");
      Path other = Files.copy(made.path(), dir.resolve("not-a-segment"));
      assertEquals(null, SharedMemoryLink.Segment.open(dir, other, made.nonce(), made.bytes()),
          "nor a file that is not named as a segment");
      try (SharedMemoryLink.Segment seen = SharedMemoryLink.Segment.open(dir, made.path(), made.nonce(), made.bytes())) {
        assertTrue(seen != null);
      }
      made.unlink();
      assertFalse(Files.exists(made.path()));
    }
  }

  @Test
  void aSharedMemoryDirThatIsNoDirectoryLeavesTheLinkOnTcp(@TempDir Path dir) throws Exception {
    Path notADirectory = Files.writeString(dir.resolve("file"), "x");
    AllReduceSettings s = new AllReduceSettings("127.0.0.1", 0, 64, 2, Duration.ofSeconds(10), 0, Transport.AUTO,
        notADirectory, 0);
    List<RingAllReduce> ranks = ring(2, 1, s);
    float[][] g = {{1, 2}, {3, 4}};
    List<Reduced> out = reduceAll(ranks, 0, g, new int[] {1, 1}, new boolean[2]);
    assertArrayEquals(new float[] {2, 3}, out.get(0).average());
    assertEquals("tcp", ranks.get(0).transport());
  }

  @Test
  void averagesOfARoundStayIntactUntilTheNextReduceCall() throws Exception {
    List<RingAllReduce> ranks = ring(2, 1, settings(Duration.ofSeconds(10)));
    float[][] a = {LocalAllReduceTest.gradient(1, 500), LocalAllReduceTest.gradient(2, 500)};
    float[][] b = {LocalAllReduceTest.gradient(3, 500), LocalAllReduceTest.gradient(4, 500)};
    float[] first = reduceAll(ranks, 0, a, new int[] {1, 1}, new boolean[2]).getFirst().average();
    float[] copy = first.clone();
    // rounds 1 and 2 are both submitted before either completes: round 0's array is
    // free for reuse, but round 1's must not be handed to round 2
    CompletableFuture<Reduced> r01 = ranks.get(0).reduce(0, 1, b[0], 1, false).toCompletableFuture();
    CompletableFuture<Reduced> r02 = ranks.get(0).reduce(0, 2, a[0], 1, false).toCompletableFuture();
    CompletableFuture<Reduced> r11 = ranks.get(1).reduce(1, 1, b[1], 1, false).toCompletableFuture();
    CompletableFuture<Reduced> r12 = ranks.get(1).reduce(1, 2, a[1], 1, false).toCompletableFuture();
    float[] second = r01.get(10, TimeUnit.SECONDS).average();
    float[] third = r02.get(10, TimeUnit.SECONDS).average();
    r11.get(10, TimeUnit.SECONDS);
    r12.get(10, TimeUnit.SECONDS);
    assertArrayEquals(local(2, 1, b, new int[] {1, 1}, new boolean[2]).average(), second, 1e-6f);
    assertArrayEquals(copy, third, "round 2 has round 0's inputs");
    assertTrue(second != third, "rounds in flight together never share an array");
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void ranksWithDifferentChunkSizesFailTheRoundNamingTheKey(Transport t) throws Exception {
    AllReduceSettings small = settings(Duration.ofSeconds(5), t);
    AllReduceSettings large = new AllReduceSettings("127.0.0.1", 0, 128, 2, Duration.ofSeconds(5), 0, t,
        small.sharedMemoryDir(), 0);
    List<RingAllReduce> ranks = ring(1, List.of(small, large));
    List<CompletableFuture<Reduced>> fs = List.of(
        ranks.get(0).reduce(0, 0, new float[1000], 1, false).toCompletableFuture(),
        ranks.get(1).reduce(1, 0, new float[1000], 1, false).toCompletableFuture());
    for (CompletableFuture<Reduced> f : fs) {
      ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
      assertTrue(e.getCause().getMessage().contains("bagpipe.allreduce.chunk-bytes"), e.getCause().getMessage());
    }
  }

  /** {@link #settings} with vectors under 64 bytes (16 floats, one test chunk) on the direct path. */
  static AllReduceSettings direct(Transport t) {
    AllReduceSettings s = settings(Duration.ofSeconds(10), t);
    return new AllReduceSettings(s.host(), 0, s.chunkBytes(), s.window(), s.timeout(), 0, t, s.sharedMemoryDir(), 64);
  }

  @ParameterizedTest(name = "W={0} n={1} {2}")
  @CsvSource({"2,1,AUTO", "3,15,AUTO", "4,7,AUTO", "5,15,AUTO", "3,0,AUTO", "2,15,TCP", "3,1,TCP", "4,15,TCP", "5,9,TCP", "2,0,TCP"})
  void smallVectorsTakeTheDirectPathAndEveryRankSumsInRankOrder(int world, int n, Transport t) throws Exception {
    List<RingAllReduce> ranks = ring(world, 1, direct(t));
    for (long round = 0; round < 3; round++) {
      float[][] g = new float[world][];
      int[] weights = new int[world];
      boolean[] halts = new boolean[world];
      for (int r = 0; r < world; r++) {
        g[r] = LocalAllReduceTest.gradient((int) (31 * round + r), n);
        weights[r] = r + 1;
        halts[r] = round == 1 && r == world - 1;
      }
      float[][] before = new float[world][];
      for (int r = 0; r < world; r++) {
        before[r] = g[r].clone();
      }
      List<Reduced> out = reduceAll(ranks, round, g, weights, halts);
      int total = world * (world + 1) / 2;
      float[] rankOrder = new float[n];
      for (int i = 0; i < n; i++) {
        float sum = g[0][i];
        for (int k = 1; k < world; k++) {
          sum += g[k][i];
        }
        rankOrder[i] = sum * (1f / total);
      }
      for (int r = 0; r < world; r++) {
        Reduced red = out.get(r);
        assertEquals(round, red.round());
        assertEquals(total, red.weight());
        assertEquals(round == 1, red.halt(), "the halt bit of the last rank reaches rank " + r);
        assertArrayEquals(rankOrder, red.average(), "rank " + r + " summed the whole vectors in rank order");
        assertArrayEquals(before[r], g[r], "rank " + r + "'s gradient is not modified");
      }
    }
    // a vector of a whole chunk still takes the ring, on the same connections
    float[][] g = new float[world][];
    for (int r = 0; r < world; r++) {
      g[r] = LocalAllReduceTest.gradient(r, 16);
    }
    int[] ones = new int[world];
    java.util.Arrays.fill(ones, 1);
    List<Reduced> out = reduceAll(ranks, 10, g, ones, new boolean[world]);
    Reduced expected = local(world, 10, g, ones, new boolean[world]);
    for (Reduced red : out) {
      assertArrayEquals(out.getFirst().average(), red.average());
      assertArrayEquals(expected.average(), red.average(), 1e-6f);
    }
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void theDirectPathCarriesWeightZeroAsZeros(Transport t) throws Exception {
    List<RingAllReduce> ranks = ring(3, 1, direct(t));
    float[][] g = {{1, 2}, {3, 4}, {5, 6}};
    for (Reduced red : reduceAll(ranks, 0, g, new int[3], new boolean[3])) {
      assertEquals(0, red.weight());
      assertArrayEquals(new float[2], red.average());
    }
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void ranksThatDisagreeOnTheDirectPathFailTheRoundNamingTheKey(Transport t) throws Exception {
    List<RingAllReduce> ranks = ring(1, List.of(direct(t), settings(Duration.ofSeconds(5), t)));
    List<CompletableFuture<Reduced>> fs = List.of(
        ranks.get(0).reduce(0, 0, new float[8], 1, false).toCompletableFuture(),
        ranks.get(1).reduce(1, 0, new float[8], 1, false).toCompletableFuture());
    // Both ranks fail; the rank that sees the other's frame names the key. The other may see
    // its neighbour hang up first, so its own message can be the lost connection.
    List<String> messages = new ArrayList<>();
    for (CompletableFuture<Reduced> f : fs) {
      ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
      messages.add(e.getCause().getMessage());
    }
    assertTrue(messages.stream().anyMatch(m -> m.contains("direct-below-bytes")), messages.toString());
  }
}
