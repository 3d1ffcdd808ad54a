package io.bagpipe.allreduce;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.allreduce.AllReduce.Reduced;
import io.bagpipe.allreduce.AllReduceSettings.Transport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The data channel with {@code bagpipe.security.encrypt-data = on}: ring links and transfers. */
@Timeout(30)
class EncryptedChannelTest {

  private static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
  private static final ChannelAuth SEALED = ChannelAuth.of(SECRET).encrypting(true);
  private static final ChannelAuth SIGNED = ChannelAuth.of(SECRET);
  /** Bytes a connector sends before its first frame: header 24, nonce 32, proof 32, TCP offer 24. */
  private static final int BEFORE_FRAMES = 24 + 32 + 32 + 24;
  /** Four floats rank 0's gradient repeats, as they would appear on the wire in the clear. */
  private static final float[] PATTERN = {1.1f, -2.25f, 3.3f, 1e-7f};

  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  private static AllReduceSettings settings(int chunkBytes, Transport t, int directBelowBytes) {
    return new AllReduceSettings("127.0.0.1", 0, chunkBytes, 2, Duration.ofSeconds(10), 0, t,
        Path.of(System.getProperty("java.io.tmpdir")), directBelowBytes);
  }

  /**
   * A ring of {@code world} ranks whose link from rank 0 to rank 1 runs through {@code proxy}
   * when it is not null (every rank's address list names the proxy as rank 1).
   */
  private List<RingAllReduce> ring(int world, List<ChannelAuth> auths, AllReduceSettings s, Proxy proxy)
      throws IOException {
    List<DataPort> ports = new ArrayList<>();
    List<InetSocketAddress> addresses = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      DataPort p = DataPort.open(s, auths.get(r));
      open.add(p);
      ports.add(p);
      addresses.add(p.address());
    }
    if (proxy != null) {
      proxy.target = addresses.get(1);
      addresses.set(1, proxy.address());
    }
    List<RingAllReduce> ranks = new ArrayList<>();
    for (int r = 0; r < world; r++) {
      RingAllReduce ar = new RingAllReduce(ports.get(r), 1, r, addresses, s);
      open.add(ar);
      ranks.add(ar);
    }
    return ranks;
  }

  private static float[][] gradients(int world, int n) {
    Random random = new Random(42);
    float[][] g = new float[world][n];
    for (int r = 0; r < world; r++) {
      for (int i = 0; i < n; i++) {
        g[r][i] = r == 0 ? PATTERN[i % PATTERN.length] : (float) random.nextGaussian();
      }
    }
    return g;
  }

  private static List<CompletableFuture<Reduced>> reduce(List<RingAllReduce> ranks, float[][] g, long round) {
    List<CompletableFuture<Reduced>> fs = new ArrayList<>();
    for (int r = 0; r < ranks.size(); r++) {
      fs.add(ranks.get(r).reduce(r, round, g[r].clone(), r + 1, false).toCompletableFuture());
    }
    return fs;
  }

  /** Ring (chunks of 64 bytes) and direct path (1 KiB frames): the same floats with and without encryption. */
  @ParameterizedTest
  @CsvSource({"64, 0, 301", "1024, 1024, 50"})
  void anEncryptedRingAveragesBitForBitAsAPlainOne(int chunk, int direct, int n) throws Exception {
    AllReduceSettings s = settings(chunk, Transport.TCP, direct);
    float[][] g = gradients(3, n);
    List<RingAllReduce> plain = ring(3, List.of(SIGNED, SIGNED, SIGNED), s, null);
    List<RingAllReduce> sealed = ring(3, List.of(SEALED, SEALED, SEALED), s, null);
    for (long round = 1; round <= 3; round++) {
      List<CompletableFuture<Reduced>> p = reduce(plain, g, round);
      List<CompletableFuture<Reduced>> e = reduce(sealed, g, round);
      float[] first = p.getFirst().get(20, TimeUnit.SECONDS).average().clone();
      for (int r = 0; r < 3; r++) {
        assertArrayEquals(first, p.get(r).get(20, TimeUnit.SECONDS).average().clone(), "plain rank " + r);
        Reduced er = e.get(r).get(20, TimeUnit.SECONDS);
        assertArrayEquals(first, er.average(), "encrypted rank " + r + ", round " + round);
        assertEquals(6, er.weight());
      }
    }
    for (RingAllReduce r : sealed) {
      assertEquals("tcp+encrypted", r.transport());
    }
    assertEquals("tcp", plain.getFirst().transport());
  }

  /**
   * Shared memory between two processes of one host stays in the clear with encryption on:
   * what encrypt-data guards against cannot read the segment (docs/security.md).
   */
  @Test
  void ranksThatShareMemoryKeepUsingItWithEncryptionOn() throws Exception {
    AllReduceSettings s = settings(64, Transport.AUTO, 0);
    float[][] g = gradients(2, 200);
    List<RingAllReduce> ranks = ring(2, List.of(SEALED, SEALED), s, null);
    List<CompletableFuture<Reduced>> fs = reduce(ranks, g, 1);
    for (int r = 0; r < 2; r++) {
      float[] avg = fs.get(r).get(20, TimeUnit.SECONDS).average();
      assertEquals((g[0][7] + g[1][7]) / 3, avg[7], 1e-6f); // gradients are sums; weights 1 and 2
      assertEquals("shared-memory", ranks.get(r).transport());
    }
  }

  /** A proxy that records rank 0's bytes shows the gradient's floats in the clear, and not with encryption. */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void gradientFloatsAreNotVisibleOnTheWire(boolean encrypt) throws Exception {
    AllReduceSettings s = settings(1024, Transport.TCP, 0);
    ChannelAuth auth = encrypt ? SEALED : SIGNED;
    Proxy proxy = proxy(-1);
    List<RingAllReduce> ranks = ring(3, List.of(auth, auth, auth), s, proxy);
    List<CompletableFuture<Reduced>> fs = reduce(ranks, gradients(3, 3000), 1);
    for (CompletableFuture<Reduced> f : fs) {
      f.get(20, TimeUnit.SECONDS);
    }
    byte[] wire = proxy.recorded();
    assertTrue(wire.length > 3000 * 4 / 3, "the proxy saw " + wire.length + " bytes");
    assertEquals(!encrypt, contains(wire, patternBytes()), encrypt
        ? "rank 0's gradient floats crossed the encrypted channel in the clear"
        : "the control: a plain channel shows rank 0's floats");
  }

  /**
   * A byte flipped in flight, in a frame's header, ciphertext or tag, fails the round at
   * rank 1 naming rank 0 and the failed authentication, instead of a wrong average.
   */
  @ParameterizedTest
  @ValueSource(ints = {5, 28, 40 + 5, 40 + 64 + 3})
  void aFrameAlteredInFlightFailsTheRoundNamingTheNeighbour(int offsetInFrame) throws Exception {
    AllReduceSettings s = settings(64, Transport.TCP, 0);
    Proxy proxy = proxy(BEFORE_FRAMES + offsetInFrame);
    List<RingAllReduce> ranks = ring(3, List.of(SEALED, SEALED, SEALED), s, proxy);
    List<CompletableFuture<Reduced>> fs = reduce(ranks, gradients(3, 301), 1);
    List<String> all = new ArrayList<>();
    for (int r = 0; r < 3; r++) { // every rank's round fails: none reports an average
      int rank = r;
      ExecutionException e = assertThrows(ExecutionException.class, () -> fs.get(rank).get(20, TimeUnit.SECONDS));
      all.add(e.getCause().getMessage());
    }
    ExecutionException e = assertThrows(ExecutionException.class, () -> fs.get(1).get(20, TimeUnit.SECONDS));
    RingBrokenException b = assertInstanceOf(RingBrokenException.class, e.getCause());
    assertEquals(0, b.peerRank(), all.toString());
    assertTrue(b.getMessage().contains("rank 1 of ring generation 1 got a frame that failed authentication from its"
        + " left neighbour, rank 0") && b.getMessage().contains("tampered"), all.toString());
  }

  @Test
  void endsThatDisagreeOnEncryptionAreRefusedNamingTheKey() throws Exception {
    AllReduceSettings s = settings(64, Transport.TCP, 0);
    for (ChannelAuth[] pair : new ChannelAuth[][] {{SIGNED, SEALED}, {SEALED, SIGNED}}) {
      DataPort p = DataPort.open(s, pair[0]);
      open.add(p);
      RingBrokenException e = assertThrows(RingBrokenException.class, () -> DataPort.connect(p.address(), 1, 0, 1, 2,
          s, pair[1], System.nanoTime() + 5_000_000_000L, c -> {}));
      assertTrue(e.getMessage().contains("bagpipe.security.encrypt-data"), e.getMessage());
      IOException t = assertThrows(IOException.class, () -> DataPort.connectTransfer(p.address(), 3, s, pair[1]));
      assertTrue(t.getMessage().contains("bagpipe.security.encrypt-data"), t.getMessage());
      assertEquals(0, p.parkedCount());
    }
    // On a ring, both ranks fail (rather than wait) and the key is named.
    List<RingAllReduce> ranks = ring(2, List.of(SEALED, SIGNED), s, null);
    List<CompletableFuture<Reduced>> fs = reduce(ranks, gradients(2, 100), 1);
    List<String> messages = new ArrayList<>();
    for (CompletableFuture<Reduced> f : fs) {
      ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(20, TimeUnit.SECONDS));
      messages.add(e.getCause().getMessage());
    }
    assertTrue(messages.stream().anyMatch(m -> m.contains("bagpipe.security.encrypt-data")), messages.toString());
  }

  @Test
  void encryptingNeedsASecret() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ChannelAuth.NONE.encrypting(true));
    assertTrue(e.getMessage().contains("bagpipe.security.secret-file"), e.getMessage());
    assertFalse(ChannelAuth.NONE.encrypting(false).encrypts());
  }

  /** A joiner's state over an encrypted transfer arrives whole, and its bytes are not on the wire in the clear. */
  @Test
  void aHealTransferCrossesAnEncryptedChannel() throws Exception {
    AllReduceSettings s = settings(1024, Transport.TCP, 0);
    RemoteRing from = new RemoteRing(s, SEALED);
    RemoteRing to = new RemoteRing(s, SEALED);
    open.add(from::close);
    open.add(to::close);
    Proxy proxy = proxy(-1);
    proxy.target = address(to.address());
    byte[] state = stateBytes(300_000);
    CompletableFuture<byte[]> got = to.receive(11, InputStream::readAllBytes).toCompletableFuture();
    from.send(proxy.address().getHostString() + ":" + proxy.address().getPort(), 11, out -> out.write(state))
        .toCompletableFuture().get(20, TimeUnit.SECONDS);
    assertArrayEquals(state, got.get(20, TimeUnit.SECONDS));
    assertFalse(contains(proxy.recorded(), patternBytes()), "the state crossed the encrypted channel in the clear");
  }

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void anAlteredOrCutTransferFailsInsteadOfArrivingWrong(boolean cut) throws Exception {
    AllReduceSettings s = settings(1024, Transport.TCP, 0);
    RemoteRing from = new RemoteRing(s, SEALED);
    RemoteRing to = new RemoteRing(s, SEALED);
    open.add(from::close);
    open.add(to::close);
    int handshake = 12 + 32 + 32; // transfer header, nonce, proof
    Proxy proxy = cut ? new Proxy(-1, handshake + 70_000) : new Proxy(handshake + 4 + 1000, -1);
    open.add(proxy);
    proxy.target = address(to.address());
    byte[] state = stateBytes(200_000);
    CompletableFuture<byte[]> got = to.receive(12, InputStream::readAllBytes).toCompletableFuture();
    from.send(proxy.address().getHostString() + ":" + proxy.address().getPort(), 12, out -> out.write(state));
    ExecutionException e = assertThrows(ExecutionException.class, () -> got.get(20, TimeUnit.SECONDS));
    String m = String.valueOf(e.getCause().getMessage());
    assertTrue(m.contains("transfer 12") && m.contains(cut ? "cut off" : "tampered"), m);
  }

  @Test
  void keysDifferByDirectionAndConnectionAndTheCounterStopsBeforeItWraps() throws Exception {
    byte[] header = DataPort.ringHeader(DataPort.SEALED_MAGIC, 1, 0, 1, 2);
    byte[] n1 = new byte[32];
    byte[] n2 = new byte[32];
    n2[0] = 1;
    ChannelCipher.Keys a = ChannelCipher.derive(SECRET, header, n1, n2);
    ChannelCipher.Keys b = ChannelCipher.derive(SECRET, header, n2, n1);
    ChannelCipher.Keys c = ChannelCipher.derive(SECRET, DataPort.ringHeader(DataPort.SEALED_MAGIC, 2, 0, 1, 2), n1, n2);
    assertEquals(32, a.connectorToPort().length);
    assertFalse(java.util.Arrays.equals(a.connectorToPort(), a.portToConnector()));
    assertFalse(java.util.Arrays.equals(a.connectorToPort(), b.connectorToPort()));
    assertFalse(java.util.Arrays.equals(a.connectorToPort(), c.connectorToPort()));
    assertArrayEquals(a.connectorToPort(), ChannelCipher.derive(SECRET, header, n1, n2).connectorToPort());

    ChannelCipher last = ChannelCipher.sealing(a.connectorToPort(), Long.MAX_VALUE - 1);
    ByteBuffer aad = ByteBuffer.allocate(4);
    last.seal(aad, ByteBuffer.allocate(8), ByteBuffer.allocate(8 + ChannelCipher.TAG_BYTES));
    IOException e = assertThrows(IOException.class,
        () -> last.seal(aad, ByteBuffer.allocate(8), ByteBuffer.allocate(8 + ChannelCipher.TAG_BYTES)));
    assertTrue(e.getMessage().contains("would repeat"), e.getMessage());

    // The same plaintext sealed twice differs (the counter is the nonce), and opens in order only.
    ChannelCipher seal = ChannelCipher.sealing(a.connectorToPort());
    ByteBuffer one = ByteBuffer.allocate(8 + ChannelCipher.TAG_BYTES);
    ByteBuffer two = ByteBuffer.allocate(8 + ChannelCipher.TAG_BYTES);
    seal.seal(aad, ByteBuffer.allocate(8), one);
    seal.seal(aad, ByteBuffer.allocate(8), two);
    assertNotEquals(one.flip(), two.flip());
    ChannelCipher opener = ChannelCipher.opening(a.connectorToPort());
    assertThrows(ChannelCipher.Tampered.class, () -> opener.open(aad, two.duplicate(), ByteBuffer.allocate(8)));
  }

  // ---------------------------------------------------------------- helpers

  private static InetSocketAddress address(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
  }

  private static byte[] patternBytes() {
    ByteBuffer b = ByteBuffer.allocate(4 * PATTERN.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : PATTERN) {
      b.putFloat(f);
    }
    return b.array();
  }

  private static byte[] stateBytes(int n) {
    byte[] p = patternBytes();
    byte[] s = new byte[n];
    for (int i = 0; i < n; i++) {
      s[i] = p[i % p.length];
    }
    return s;
  }

  private static boolean contains(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  private Proxy proxy(int flipAt) throws IOException {
    Proxy p = new Proxy(flipAt, -1);
    open.add(p);
    return p;
  }

  /**
   * A TCP proxy on loopback for one connection: forwards both ways, records what the
   * connector sends, flips the byte at {@code flipAt} of that direction (-1: none) and
   * hangs up after {@code cutAt} bytes of it (-1: never).
   */
  static final class Proxy implements AutoCloseable {

    private final ServerSocket server;
    private final int flipAt;
    private final int cutAt;
    private final ByteArrayOutputStream recorded = new ByteArrayOutputStream();
    private final List<Socket> sockets = new ArrayList<>();
    volatile InetSocketAddress target;

    Proxy(int flipAt, int cutAt) throws IOException {
      this.server = new ServerSocket(0, 4, InetAddress.getLoopbackAddress());
      this.flipAt = flipAt;
      this.cutAt = cutAt;
      Thread.ofVirtual().start(this::serve);
    }

    InetSocketAddress address() {
      return new InetSocketAddress("127.0.0.1", server.getLocalPort());
    }

    synchronized byte[] recorded() {
      return recorded.toByteArray();
    }

    private void serve() {
      try {
        Socket in = server.accept();
        Socket out = new Socket();
        out.connect(target);
        synchronized (this) {
          sockets.add(in);
          sockets.add(out);
        }
        Thread.ofVirtual().start(() -> pump(out, in, false));
        pump(in, out, true);
      } catch (IOException e) {
        // closed
      }
    }

    private void pump(Socket from, Socket to, boolean forward) {
      byte[] buf = new byte[8192];
      long seen = 0;
      try (InputStream i = from.getInputStream(); OutputStream o = to.getOutputStream()) {
        for (int n; (n = i.read(buf)) > 0; ) {
          if (forward) {
            if (flipAt >= seen && flipAt < seen + n) {
              buf[(int) (flipAt - seen)] ^= 0x10;
            }
            if (cutAt >= 0 && seen + n > cutAt) {
              o.write(buf, 0, (int) (cutAt - seen));
              o.flush();
              synchronized (this) {
                sockets.forEach(EncryptedChannelTest::closeQuietly);
              }
              return;
            }
            synchronized (this) {
              recorded.write(buf, 0, n);
            }
          }
          seen += n;
          o.write(buf, 0, n);
          o.flush();
        }
      } catch (IOException e) {
        // one side closed
      } finally {
        closeQuietly(to);
      }
    }

    @Override
    public void close() throws IOException {
      server.close();
      synchronized (this) {
        sockets.forEach(EncryptedChannelTest::closeQuietly);
      }
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // best effort
    }
  }
}
