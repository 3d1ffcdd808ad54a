package io.bagpipe.allreduce;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.allreduce.AllReduce.Reduced;
import io.bagpipe.allreduce.AllReduceSettings.Transport;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
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
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Who may connect to a data port, and what a port keeps waiting. */
@Timeout(30)
class DataPortSecurityTest {

  private static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] OTHER = "fedcba9876543210fedcba9876543210".getBytes(StandardCharsets.US_ASCII);

  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  private static AllReduceSettings settings(Duration timeout, Transport t) {
    return new AllReduceSettings("127.0.0.1", 0, 64, 2, timeout, 0, t, Path.of(System.getProperty("java.io.tmpdir")), 0);
  }

  private DataPort port(AllReduceSettings s, ChannelAuth auth) throws IOException {
    DataPort p = DataPort.open(s, auth);
    open.add(p);
    return p;
  }

  private List<RingAllReduce> ring(int world, ChannelAuth auth, Transport t) throws IOException {
    AllReduceSettings s = settings(Duration.ofSeconds(10), t);
    List<DataPort> ports = new ArrayList<>();
    List<InetSocketAddress> addresses = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      DataPort p = port(s, auth);
      ports.add(p);
      addresses.add(p.address());
    }
    List<RingAllReduce> ranks = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      RingAllReduce ar = new RingAllReduce(ports.get(r), 1, r, addresses, s);
      open.add(ar);
      ranks.add(ar);
    }
    return ranks;
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void ranksHoldingTheSecretReduceAsWithout(Transport t) throws Exception {
    List<RingAllReduce> ranks = ring(3, ChannelAuth.of(SECRET), t);
    List<CompletableFuture<Reduced>> fs = new ArrayList<>();
    for (int r = 0; r < 3; r++) {
      float[] g = new float[301];
      java.util.Arrays.fill(g, r + 1);
      fs.add(ranks.get(r).reduce(r, 1, g, 1, false).toCompletableFuture());
    }
    for (CompletableFuture<Reduced> f : fs) {
      float[] avg = f.get(20, TimeUnit.SECONDS).average();
      for (float v : avg) {
        assertEquals(2f, v);
      }
    }
  }

  @Test
  void aConnectorWithTheWrongSecretIsRefusedAndParksNothing() throws Exception {
    AllReduceSettings s = settings(Duration.ofSeconds(5), Transport.TCP);
    DataPort secured = port(s, ChannelAuth.of(SECRET));
    RingBrokenException e = assertThrows(RingBrokenException.class, () -> DataPort.connect(secured.address(), 1, 0, 1, 2,
        s, ChannelAuth.of(OTHER), System.nanoTime() + 5_000_000_000L, c -> {}));
    assertTrue(e.getMessage().contains("does not hold this run's secret"), e.getMessage());
    assertEquals(0, secured.parkedCount());
  }

  @Test
  void aConnectorWithoutAnySecretIsRefusedWithTheKeyToSet() throws Exception {
    AllReduceSettings s = settings(Duration.ofSeconds(5), Transport.TCP);
    DataPort secured = port(s, ChannelAuth.of(SECRET));
    RingBrokenException e = assertThrows(RingBrokenException.class, () -> DataPort.connect(secured.address(), 1, 0, 1, 2,
        s, ChannelAuth.NONE, System.nanoTime() + 5_000_000_000L, c -> {}));
    assertTrue(e.getMessage().contains("bagpipe.security.secret-file"), e.getMessage());
    assertThrows(IOException.class, () -> DataPort.connectTransfer(secured.address(), 7, s, ChannelAuth.NONE));
    assertEquals(0, secured.parkedCount());
  }

  @Test
  void aReplayedHandshakeFailsBecauseThePortsNonceIsFresh() throws Exception {
    AllReduceSettings s = settings(Duration.ofSeconds(5), Transport.TCP);
    DataPort secured = port(s, ChannelAuth.of(SECRET));
    byte[] header = DataPort.ringHeader(1, 0, 1, 2);
    java.io.ByteArrayOutputStream recorded = new java.io.ByteArrayOutputStream();
    try (Socket a = new Socket()) {
      a.connect(secured.address());
      java.io.OutputStream wire = a.getOutputStream();
      DataOutputStream out = new DataOutputStream(new java.io.OutputStream() {
        @Override
        public void write(int b) throws IOException {
          wire.write(b);
          recorded.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
          wire.write(b, off, len);
          recorded.write(b, off, len);
        }
      });
      out.write(header);
      ChannelAuth.of(SECRET).prove(new DataInputStream(a.getInputStream()), out, header);
      waitUntil(() -> secured.parkedCount() == 1); // the honest connection passed and waits for its ring
    }
    byte[] sent = recorded.toByteArray();
    assertEquals(header.length + ChannelAuth.NONCE_BYTES + ChannelAuth.MAC_BYTES, sent.length);
    secured.forget(1, 0);
    try (Socket b = new Socket()) {
      b.connect(secured.address());
      DataOutputStream out = new DataOutputStream(b.getOutputStream());
      DataInputStream in = new DataInputStream(b.getInputStream());
      out.write(sent, 0, header.length + ChannelAuth.NONCE_BYTES); // the same header and nonce
      out.flush();
      in.readFully(new byte[ChannelAuth.NONCE_BYTES + ChannelAuth.MAC_BYTES]); // the port's fresh challenge
      out.write(sent, header.length + ChannelAuth.NONCE_BYTES, ChannelAuth.MAC_BYTES); // the recorded proof
      out.flush();
      assertEquals(DataPort.REFUSED, in.readUnsignedByte());
      assertTrue(in.readUTF().contains("does not hold this run's secret"));
    }
    assertEquals(0, secured.parkedCount());
  }

  @Test
  void theFirstConnectionKeepsItsPlaceAndASecondIsRefused() throws Exception {
    AllReduceSettings s = settings(Duration.ofSeconds(5), Transport.TCP);
    DataPort p = port(s, ChannelAuth.of(SECRET));
    CompletableFuture<SocketChannel> first = CompletableFuture.supplyAsync(() -> connectQuietly(p, s));
    waitUntil(() -> p.parkedCount() == 1);
    RingBrokenException e = assertThrows(RingBrokenException.class, () -> DataPort.connect(p.address(), 1, 0, 1, 2, s,
        ChannelAuth.of(SECRET), System.nanoTime() + 5_000_000_000L, c -> {}));
    assertTrue(e.getMessage().contains("already connected"), e.getMessage());
    DataPort.Incoming taken = p.expect(1, 0, 1, 2).get(5, TimeUnit.SECONDS);
    DataPort.accept(taken.channel());
    SocketChannel mine = first.get(5, TimeUnit.SECONDS);
    mine.close();
    taken.channel().close();
  }

  @Test
  void parkedConnectionsAreBoundedAndExpire() throws Exception {
    AllReduceSettings s = settings(Duration.ofMillis(1500), Transport.TCP);
    DataPort p = port(s, ChannelAuth.NONE);
    List<Socket> sockets = new ArrayList<>();
    try {
      for (int i = 0; i < DataPort.MAX_PARKED + 3; i++) {
        Socket so = new Socket();
        so.connect(p.address());
        DataOutputStream out = new DataOutputStream(so.getOutputStream());
        out.writeInt(DataPort.MAGIC);
        out.writeLong(1);
        out.writeInt(1000 + i); // a rank no ring expects
        out.writeInt(1);
        out.writeInt(2);
        out.flush();
        sockets.add(so);
      }
      waitUntil(() -> p.parkedCount() == DataPort.MAX_PARKED);
      Thread.sleep(300);
      assertEquals(DataPort.MAX_PARKED, p.parkedCount());
      // After bagpipe.allreduce.timeout every parked connection is refused and closed.
      waitUntil(() -> p.parkedCount() == 0);
      DataInputStream in = new DataInputStream(sockets.getFirst().getInputStream());
      assertEquals(DataPort.REFUSED, in.readUnsignedByte());
      assertTrue(in.readUTF().contains("within"));
    } finally {
      for (Socket so : sockets) {
        so.close();
      }
    }
  }

  /**
   * On the ring a rank's gradient is checked where the round adds it: by rank 1 itself in
   * the segments it adds, by its right neighbour in the one it sends raw at step 0. Either
   * way every rank learns that rank 1 computed it. Elements 17, 100 and 180 of 200 lie in
   * the three segments of a 3-rank ring.
   */
  @ParameterizedTest
  @ValueSource(ints = {17, 100, 180})
  void aNonFiniteGradientStopsTheRoundNamingItsRank(int element) throws Exception {
    for (float bad : new float[] {Float.NEGATIVE_INFINITY, Float.NaN}) {
      List<RingAllReduce> ranks = ring(3, ChannelAuth.NONE, Transport.TCP);
      List<CompletableFuture<Reduced>> fs = new ArrayList<>();
      for (int r = 0; r < 3; r++) {
        float[] g = new float[200];
        if (r == 1) {
          g[element] = bad;
        }
        fs.add(ranks.get(r).reduce(r, 1, g, 1, false).toCompletableFuture());
      }
      List<String> all = new ArrayList<>();
      for (int r = 0; r < 3; r++) {
        ExecutionException e = assertThrows(ExecutionException.class, fs.get(r)::get);
        all.add(e.getCause().getMessage());
      }
      for (int r = 0; r < 3; r++) {
        ExecutionException e = assertThrows(ExecutionException.class, fs.get(r)::get);
        RingBrokenException b = assertInstanceOf(RingBrokenException.class, e.getCause());
        assertTrue(b.getMessage().matches("(?s).*rank 1( of ring generation 1)? computed a gradient that is not finite"
            + " in round 1 \\(element " + element + " is " + bad + "\\).*"), "rank " + r + ": " + all);
      }
    }
  }

  @Test
  void finiteGradientsWhoseSumOverflowsStopTheRound() throws Exception {
    List<RingAllReduce> ranks = ring(2, ChannelAuth.NONE, Transport.TCP);
    List<CompletableFuture<Reduced>> fs = new ArrayList<>();
    for (int r = 0; r < 2; r++) {
      float[] g = new float[200];
      java.util.Arrays.fill(g, Float.MAX_VALUE);
      fs.add(ranks.get(r).reduce(r, 1, g, 1, false).toCompletableFuture());
    }
    for (int r = 0; r < 2; r++) {
      ExecutionException e = assertThrows(ExecutionException.class, fs.get(r)::get);
      assertTrue(e.getCause().getMessage().contains("summed finite gradients to a float that overflows"),
          "rank " + r + ": " + e.getCause().getMessage());
    }
  }

  @Test
  void aNonFiniteGradientOnTheDirectPathStopsTheRoundBeforeItIsSent() throws Exception {
    AllReduceSettings s = new AllReduceSettings("127.0.0.1", 0, 1024, 2, Duration.ofSeconds(10), 0, Transport.TCP,
        Path.of(System.getProperty("java.io.tmpdir")), 1024);
    List<InetSocketAddress> addresses = new ArrayList<>();
    List<DataPort> ports = new ArrayList<>();
    for (int r = 0; r < 2; r++) {
      ports.add(port(s, ChannelAuth.NONE));
      addresses.add(ports.get(r).address());
    }
    List<CompletableFuture<Reduced>> fs = new ArrayList<>();
    for (int r = 0; r < 2; r++) {
      RingAllReduce ar = new RingAllReduce(ports.get(r), 1, r, addresses, s);
      open.add(ar);
      float[] g = new float[10];
      g[3] = r == 0 ? Float.POSITIVE_INFINITY : 0f;
      fs.add(ar.reduce(r, 1, g, 1, false).toCompletableFuture());
    }
    for (int r = 0; r < 2; r++) {
      ExecutionException e = assertThrows(ExecutionException.class, fs.get(r)::get);
      assertTrue(e.getCause().getMessage().contains("rank 0 of ring generation 1 computed a gradient that is not"
          + " finite in round 1 (element 3 is Infinity)"), "rank " + r + ": " + e.getCause().getMessage());
    }
  }

  @Test
  void nonFiniteFloatsAreFoundWhereverTheyAre() {
    float[] a = {1, 2, Float.POSITIVE_INFINITY, 4};
    assertFalse(RingAllReduce.allFinite(a, 0, 4));
    assertTrue(RingAllReduce.allFinite(a, 3, 1));
    assertTrue(RingAllReduce.allFinite(new float[] {Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_VALUE}, 0, 3));
    float[] big = new float[10_001];
    assertTrue(RingAllReduce.allFinite(big, 0, big.length));
    big[10_000] = Float.NaN;
    assertFalse(RingAllReduce.allFinite(big, 0, big.length));
    assertTrue(RingAllReduce.allFinite(big, 0, 10_000));
    assertEquals(2, RingAllReduce.firstNonFinite(a, 0, 4));
    assertEquals(0, RingAllReduce.firstNonFinite(a, 2, 2));
    assertEquals(-1, RingAllReduce.firstNonFinite(a, 0, 2));
    assertEquals(0, RingAllReduce.firstNonFinite(new float[] {Float.NaN}, 0, 1));
    assertEquals(-1, RingAllReduce.firstNonFinite(new float[] {Float.MAX_VALUE, -Float.MAX_VALUE}, 0, 2));
  }

  @Test
  void aSecretFileIsReadTrimmedAndAShortOneIsRefusedNamingTheKey(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("secret");
    Files.writeString(f, ChannelAuth.newSecret() + "\n");
    assertTrue(ChannelAuth.fromFile(f, "bagpipe.security.secret-file").enabled());
    Files.writeString(f, "short\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ChannelAuth.fromFile(f, "bagpipe.security.secret-file"));
    assertTrue(e.getMessage().contains("bagpipe.security.secret-file") && e.getMessage().contains(f.toString()));
    IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
        () -> ChannelAuth.fromFile(dir.resolve("absent"), "bagpipe.security.secret-file"));
    assertTrue(missing.getMessage().contains("absent"));
  }

  private static SocketChannel connectQuietly(DataPort p, AllReduceSettings s) {
    try {
      return DataPort.connect(p.address(), 1, 0, 1, 2, s, ChannelAuth.of(SECRET), System.nanoTime() + 5_000_000_000L,
          c -> {});
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static void waitUntil(java.util.function.BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met within 10 s");
      }
      Thread.sleep(20);
    }
  }
}
