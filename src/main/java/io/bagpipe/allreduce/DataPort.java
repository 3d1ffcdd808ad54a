package io.bagpipe.allreduce;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A worker's listening data port: where its left ring neighbour connects. It
 * outlives rings: the worker opens it once, reports {@link #address()} through the
 * cluster, and every ring generation the Coordinator forms accepts its left
 * neighbour's connection here.
 *
 * <p>Every connection starts with a handshake {@code (magic, generation, from
 * rank, to rank, world)}; the port answers one status byte once a ring of this
 * JVM expects exactly that connection. A connection for a generation older than
 * the newest ring this port has served is refused with a reason, so a worker still
 * on a stale ring can never feed bytes into a newer one. The acceptor runs on its
 * own thread, handshakes on virtual threads; nothing here runs on a caller's thread.
 *
 * <p>A second kind of connection carries one bulk transfer (a replica's state for a
 * worker that joins a running run): handshake {@code (state magic, transfer id)},
 * one status byte, then the bytes until the sender closes. It waits, parked, for
 * {@link #expectTransfer} of its id, like a ring connection waits for its ring.
 *
 * <p><b>Who may connect.</b> With a {@link ChannelAuth} secret both kinds of
 * connection use their own magic numbers and, after the header, a challenge–response
 * that each side must pass; a connection that fails it, or that comes without it, is
 * refused with a reason before it is parked. Parked connections are bounded
 * ({@value #MAX_PARKED} of each kind) and closed once they have waited
 * {@code bagpipe.allreduce.timeout}; the first connection for a (generation, rank) or
 * a transfer id keeps its place, and a second one is refused rather than taking it.
 * At most {@value #MAX_HANDSHAKES} handshakes run at once, each within
 * {@value #HANDSHAKE_MILLIS} ms (or the timeout when shorter): a peer that connects
 * and says nothing holds a slot only that long.
 *
 * <p><b>Encryption.</b> A connector whose {@link ChannelAuth#encrypts()} uses a third
 * pair of magic numbers; both sides then derive the connection's keys from the
 * handshake ({@link Connected#keys()}, {@link Incoming#keys()}) and the link or transfer
 * seals what follows ({@link ChannelCipher}). A connector that disagrees with the port
 * is refused after the handshake with a reason naming {@code
 * bagpipe.security.encrypt-data}.
 */
public final class DataPort implements AutoCloseable {

  static final int MAGIC = 0x42505247; // "BPRG"
  static final int STATE_MAGIC = 0x42505354; // "BPST"
  static final int AUTH_MAGIC = 0x42505241; // "BPRA": a ring connection with a proof of the secret
  static final int AUTH_STATE_MAGIC = 0x42505341; // "BPSA": a transfer with a proof of the secret
  static final int SEALED_MAGIC = 0x42505245; // "BPRE": a ring connection with a proof, encrypted after it
  static final int SEALED_STATE_MAGIC = 0x42505345; // "BPSE": a transfer with a proof, encrypted after it
  private static final String ENCRYPT_KEY = "bagpipe.security.encrypt-data";
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DataPort.class);
  /** Parked connections of each kind (ring, transfer) a port holds at most. */
  static final int MAX_PARKED = 64;
  /** Handshakes in progress at once; more connections are closed at once. */
  static final int MAX_HANDSHAKES = 128;
  static final int HANDSHAKE_MILLIS = 10_000;
  static final int OK = 0;
  static final int REFUSED = 1;

  private final AllReduceSettings settings;
  private final ChannelAuth auth;
  private final java.util.concurrent.Semaphore handshakes = new java.util.concurrent.Semaphore(MAX_HANDSHAKES);
  private final ServerSocketChannel server;
  private final InetSocketAddress address;
  private final Thread acceptor;
  private final Map<Key, Incoming> parked = new HashMap<>();
  private final Map<Key, CompletableFuture<Incoming>> expected = new HashMap<>();
  private final Map<Long, Parked> parkedTransfers = new HashMap<>();
  private final Map<Long, CompletableFuture<Connected>> expectedTransfers = new HashMap<>();
  private long newest = Long.MIN_VALUE;
  private volatile boolean closed;

  private record Key(long generation, int from) {}

  /**
   * A handshaken connection waiting for its ring to check it and answer; {@code keys} are
   * its encryption keys, null on a channel that does not encrypt.
   */
  record Incoming(SocketChannel channel, int to, int world, ChannelCipher.Keys keys, long parkedNanos) {
    Incoming(SocketChannel channel, int to, int world) {
      this(channel, to, world, null, System.nanoTime());
    }

    Incoming(SocketChannel channel, int to, int world, ChannelCipher.Keys keys) {
      this(channel, to, world, keys, System.nanoTime());
    }
  }

  /** A handshaken connection and its encryption keys (null when the channel does not encrypt). */
  record Connected(SocketChannel channel, ChannelCipher.Keys keys) {}

  /** A handshaken transfer connection waiting for its receiver. */
  private record Parked(Connected connection, long parkedNanos) {
    SocketChannel channel() {
      return connection.channel();
    }
  }

  private DataPort(AllReduceSettings settings, ChannelAuth auth) throws IOException {
    this.settings = settings;
    this.auth = java.util.Objects.requireNonNull(auth, "auth");
    this.server = ServerSocketChannel.open();
    if (settings.socketBufferBytes() > 0) {
      server.setOption(StandardSocketOptions.SO_RCVBUF, settings.socketBufferBytes());
    }
    server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
    try {
      server.bind(new InetSocketAddress(settings.host(), settings.port()));
    } catch (IOException e) {
      server.close();
      throw new IOException("cannot listen on " + settings.host() + ":" + settings.port()
          + " (bagpipe.allreduce.host / bagpipe.allreduce.port): " + e.getMessage(), e);
    }
    int bound = ((InetSocketAddress) server.getLocalAddress()).getPort();
    this.address = new InetSocketAddress(settings.host(), bound);
    this.acceptor = Thread.ofPlatform().daemon().name("bagpipe-data-port-" + bound).start(this::acceptLoop);
    if (settings.transport() == AllReduceSettings.Transport.AUTO) {
      SharedMemoryLink.sweepStale(settings.sharedMemoryDir()); // left by processes that died mid-handshake
    }
  }

  /** Binds {@code bagpipe.allreduce.host:port} (port 0: an ephemeral one) and starts accepting anyone. */
  public static DataPort open(AllReduceSettings settings) throws IOException {
    return new DataPort(settings, ChannelAuth.NONE);
  }

  /** Like {@link #open(AllReduceSettings)}, admitting only connections that pass {@code auth}'s handshake. */
  public static DataPort open(AllReduceSettings settings, ChannelAuth auth) throws IOException {
    return new DataPort(settings, auth);
  }

  ChannelAuth auth() {
    return auth;
  }

  /** The address other workers connect to: the configured host and the bound port. */
  public InetSocketAddress address() {
    return address;
  }

  AllReduceSettings settings() {
    return settings;
  }

  private void acceptLoop() {
    while (!closed) {
      SocketChannel ch;
      try {
        ch = server.accept();
      } catch (IOException e) {
        if (closed) {
          return;
        }
        continue;
      }
      if (!handshakes.tryAcquire()) {
        closeQuietly(ch); // a flood of connections: the legitimate ones retry within their timeout
        continue;
      }
      Thread.ofVirtual().name("bagpipe-data-handshake").start(() -> {
        try {
          handshake(ch);
        } finally {
          handshakes.release();
        }
      });
    }
  }

  private void handshake(SocketChannel ch) {
    try {
      ch.socket().setSoTimeout((int) Math.min(HANDSHAKE_MILLIS, settings.timeout().toMillis()));
      DataInputStream in = new DataInputStream(ch.socket().getInputStream());
      DataOutputStream out = new DataOutputStream(ch.socket().getOutputStream());
      int magic = in.readInt();
      boolean sealed = magic == SEALED_MAGIC || magic == SEALED_STATE_MAGIC;
      boolean proving = sealed || magic == AUTH_MAGIC || magic == AUTH_STATE_MAGIC;
      boolean transfer = magic == STATE_MAGIC || magic == AUTH_STATE_MAGIC || magic == SEALED_STATE_MAGIC;
      if (!transfer && magic != MAGIC && magic != AUTH_MAGIC && magic != SEALED_MAGIC) {
        ch.close();
        return;
      }
      long first = in.readLong(); // the transfer id, or the ring generation
      int from = transfer ? 0 : in.readInt();
      int to = transfer ? 0 : in.readInt();
      int world = transfer ? 0 : in.readInt();
      if (proving != auth.enabled()) {
        refuse(ch, auth.enabled()
            ? "the data port " + address + " admits only holders of the run's secret; set bagpipe.security.secret-file"
                + " (or BAGPIPE_SECRET_FILE) to the same file on every node"
            : "the data port " + address + " has no secret configured but the connector sent a proof; set"
                + " bagpipe.security.secret-file on every node or on none");
        return;
      }
      if (transfer) {
        long id = first;
        ChannelCipher.Keys keys = proving ? auth.answer(in, out, transferHeader(magic, id)) : null;
        if (refusedEncryption(ch, sealed)) {
          return;
        }
        ch.socket().setSoTimeout(0);
        CompletableFuture<Connected> waiter;
        synchronized (this) {
          waiter = expectedTransfers.remove(id);
          if (waiter == null) {
            purgeExpired();
            if (parkedTransfers.containsKey(id)) {
              refuse(ch, "transfer " + id + " is already connected to " + address);
            } else if (parkedTransfers.size() >= MAX_PARKED) {
              refuse(ch, "the data port " + address + " already holds " + MAX_PARKED + " transfers nobody expects");
            } else {
              parkedTransfers.put(id, new Parked(new Connected(ch, keys), System.nanoTime()));
              expireLater();
            }
            return;
          }
        }
        waiter.complete(new Connected(ch, keys));
        return;
      }
      long generation = first;
      ChannelCipher.Keys keys = proving ? auth.answer(in, out, ringHeader(magic, generation, from, to, world)) : null;
      if (refusedEncryption(ch, sealed)) {
        return;
      }
      ch.socket().setSoTimeout(0);
      CompletableFuture<Incoming> waiter;
      synchronized (this) {
        if (generation < newest) {
          refuse(ch, "stale ring generation " + generation + ": this data port " + address + " is at generation " + newest);
          return;
        }
        Key key = new Key(generation, from);
        waiter = expected.remove(key);
        if (waiter == null) {
          purgeExpired();
          if (parked.containsKey(key)) {
            // The first connection keeps its place: a second one for the same ranks is a
            // retry gone wrong or someone else's, and must not take a neighbour's place.
            refuse(ch, "rank " + from + " of generation " + generation + " is already connected to " + address);
          } else if (parked.size() >= MAX_PARKED) {
            refuse(ch, "the data port " + address + " already holds " + MAX_PARKED + " ring connections no ring expects");
          } else {
            parked.put(key, new Incoming(ch, to, world, keys));
            expireLater();
          }
          return;
        }
      }
      waiter.complete(new Incoming(ch, to, world, keys));
    } catch (ChannelAuth.Refused e) {
      refuse(ch, e.getMessage());
    } catch (IOException e) {
      closeQuietly(ch);
    }
  }

  /**
   * Refuses, naming the key, a connection that passed the handshake (so it holds the
   * secret, and the magic that says whether it encrypts is inside its proof) but
   * disagrees with this port on encryption; the port's side logs it too, since its own
   * ring only sees its neighbour fail.
   */
  private boolean refusedEncryption(SocketChannel ch, boolean sealed) throws IOException {
    if (sealed == auth.encrypts()) {
      return false;
    }
    String reason = "the data port " + address + (auth.encrypts()
        ? " encrypts the data channel (" + ENCRYPT_KEY + " = on) but the connector does not"
        : " does not encrypt the data channel (" + ENCRYPT_KEY + " = off) but the connector does")
        + "; set " + ENCRYPT_KEY + " the same on every node";
    LOG.warn("refused a data channel connection from {}: {}", ch.getRemoteAddress(), reason);
    refuse(ch, reason);
    return true;
  }

  static byte[] ringHeader(long generation, int from, int to, int world) {
    return ringHeader(AUTH_MAGIC, generation, from, to, world);
  }

  /** A ring connection's header; its magic says whether the connector proves a secret and encrypts. */
  static byte[] ringHeader(int magic, long generation, int from, int to, int world) {
    return java.nio.ByteBuffer.allocate(24).putInt(magic).putLong(generation).putInt(from).putInt(to)
        .putInt(world).array();
  }

  static byte[] transferHeader(int magic, long id) {
    return java.nio.ByteBuffer.allocate(12).putInt(magic).putLong(id).array();
  }

  private static int ringMagic(ChannelAuth auth) {
    return auth.encrypts() ? SEALED_MAGIC : auth.enabled() ? AUTH_MAGIC : MAGIC;
  }

  private static int transferMagic(ChannelAuth auth) {
    return auth.encrypts() ? SEALED_STATE_MAGIC : auth.enabled() ? AUTH_STATE_MAGIC : STATE_MAGIC;
  }

  /** Purges parked connections once they could have waited {@code timeout}. */
  private void expireLater() {
    CompletableFuture.delayedExecutor(settings.timeout().toMillis() + 1, java.util.concurrent.TimeUnit.MILLISECONDS)
        .execute(() -> {
          synchronized (this) {
            purgeExpired();
          }
        });
  }

  /** Closes parked connections that waited {@code bagpipe.allreduce.timeout}: their connector gave up. Holds this. */
  private void purgeExpired() {
    long now = System.nanoTime();
    long limit = settings.timeout().toNanos();
    for (Iterator<Map.Entry<Key, Incoming>> it = parked.entrySet().iterator(); it.hasNext(); ) {
      Incoming p = it.next().getValue();
      if (now - p.parkedNanos() >= limit) {
        it.remove();
        refuse(p.channel(), "no ring of " + address + " took this connection within " + settings.timeout()
            + " (bagpipe.allreduce.timeout)");
      }
    }
    for (Iterator<Map.Entry<Long, Parked>> it = parkedTransfers.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<Long, Parked> e = it.next();
      if (now - e.getValue().parkedNanos() >= limit) {
        it.remove();
        refuse(e.getValue().channel(), "nobody at " + address + " expected transfer " + e.getKey() + " within "
            + settings.timeout() + " (bagpipe.allreduce.timeout)");
      }
    }
  }

  /** Parked connections, ring and transfer together (for tests). */
  synchronized int parkedCount() {
    return parked.size() + parkedTransfers.size();
  }

  /**
   * The connection from rank {@code from} of ring {@code generation} (world
   * {@code world}) to rank {@code to}, once it arrives; older generations are
   * refused from now on.
   */
  CompletableFuture<Incoming> expect(long generation, int from, int to, int world) {
    Incoming p;
    CompletableFuture<Incoming> f = new CompletableFuture<>();
    synchronized (this) {
      if (generation > newest) {
        newest = generation;
        for (Iterator<Map.Entry<Key, Incoming>> it = parked.entrySet().iterator(); it.hasNext(); ) {
          Map.Entry<Key, Incoming> e = it.next();
          if (e.getKey().generation() < newest) {
            it.remove();
            refuse(e.getValue().channel(), "stale ring generation " + e.getKey().generation()
                + ": this data port " + address + " is at generation " + newest);
          }
        }
      }
      p = parked.remove(new Key(generation, from));
      if (p == null) {
        expected.put(new Key(generation, from), f);
        return f;
      }
    }
    f.complete(p);
    return f;
  }

  /**
   * Whether the data port at {@code peer} refuses a connection (within a moment): no
   * worker listens there any more. False when it answers or cannot be told.
   */
  static boolean refuses(InetSocketAddress peer) {
    try (java.net.Socket s = new java.net.Socket()) {
      s.connect(peer, REFUSAL_PROBE_MILLIS);
      return false;
    } catch (ConnectException e) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static final int REFUSAL_PROBE_MILLIS = 250;

  /** The connection of bulk transfer {@code id} and its keys, once it arrives; not yet answered. */
  CompletableFuture<Connected> expectTransfer(long id) {
    CompletableFuture<Connected> f = new CompletableFuture<>();
    Parked p;
    synchronized (this) {
      p = parkedTransfers.remove(id);
      if (p == null) {
        expectedTransfers.put(id, f);
        return f;
      }
    }
    f.complete(p.connection());
    return f;
  }

  /** Stops waiting for transfer {@code id}. */
  synchronized void forgetTransfer(long id) {
    CompletableFuture<Connected> f = expectedTransfers.remove(id);
    if (f != null) {
      f.completeExceptionally(new ClosedChannelException());
    }
    Parked p = parkedTransfers.remove(id);
    if (p != null) {
      closeQuietly(p.channel());
    }
  }

  /**
   * Opens bulk transfer {@code id} to the data port at {@code peer}: connects (retrying
   * a refused connect until {@code timeout} passed), handshakes and waits for the
   * receiver to take it. The caller writes the bytes (sealed with the keys when the
   * channel encrypts) and closes the channel.
   */
  static Connected connectTransfer(InetSocketAddress peer, long id, AllReduceSettings settings, ChannelAuth auth)
      throws IOException {
    long deadline = System.nanoTime() + settings.timeout().toNanos();
    SocketChannel ch = connectRetrying(peer, settings, deadline, c -> {}, e -> new IOException(
        "cannot connect to the data port at " + peer + " within " + settings.timeout()
            + " (bagpipe.allreduce.timeout): " + e.getMessage(), e));
    DataOutputStream out = new DataOutputStream(ch.socket().getOutputStream());
    DataInputStream in = new DataInputStream(ch.socket().getInputStream());
    int magic = transferMagic(auth);
    out.writeInt(magic);
    out.writeLong(id);
    out.flush();
    ch.socket().setSoTimeout((int) Math.min(Integer.MAX_VALUE, settings.timeout().toMillis()));
    ChannelCipher.Keys keys = null;
    if (auth.enabled()) {
      try {
        keys = auth.prove(in, out, transferHeader(magic, id));
      } catch (IOException e) {
        ch.close();
        throw new IOException("the data port at " + peer + " did not pass the handshake of transfer " + id + ": "
            + e.getMessage(), e);
      }
    }
    int status;
    try {
      status = in.readUnsignedByte();
    } catch (IOException e) {
      ch.close();
      throw new IOException("the data port at " + peer + " did not take transfer " + id + " within "
          + settings.timeout() + " (bagpipe.allreduce.timeout)", e);
    }
    if (status != OK) {
      String reason = readReason(in);
      ch.close();
      throw new IOException("the data port at " + peer + " refused transfer " + id + ": " + reason);
    }
    return new Connected(ch, keys);
  }

  /** Stops waiting for {@code generation}'s connection from {@code from}. */
  synchronized void forget(long generation, int from) {
    expected.remove(new Key(generation, from));
    Incoming p = parked.remove(new Key(generation, from));
    if (p != null) {
      closeQuietly(p.channel());
    }
  }

  private static String readReason(DataInputStream in) {
    try {
      return in.readUTF(); // at most 64 KiB: writeUTF's own length bound
    } catch (IOException e) {
      return "no reason given";
    }
  }

  static void accept(SocketChannel ch) throws IOException {
    DataOutputStream out = new DataOutputStream(ch.socket().getOutputStream());
    out.writeByte(OK);
    out.flush();
  }

  static void refuse(SocketChannel ch, String reason) {
    try {
      DataOutputStream out = new DataOutputStream(ch.socket().getOutputStream());
      out.writeByte(REFUSED);
      out.writeUTF(reason);
      out.flush();
    } catch (IOException ignored) {
      // the refused side learns from the closed connection instead
    } finally {
      closeQuietly(ch);
    }
  }

  /**
   * Connects to rank {@code to}'s data port at {@code peer} as rank {@code from} of
   * ring {@code generation}, retrying a refused TCP connect until {@code deadlineNanos},
   * and waits for the handshake's answer.
   *
   * @param opened receives the channel as soon as it exists, so a watchdog can close it
   * @throws RingBrokenException naming the peer when it refuses or cannot be reached
   */
  static SocketChannel connect(InetSocketAddress peer, long generation, int from, int to, int world,
      AllReduceSettings settings, long deadlineNanos, java.util.function.Consumer<SocketChannel> opened)
      throws IOException {
    return connect(peer, generation, from, to, world, settings, ChannelAuth.NONE, deadlineNanos, opened);
  }

  /** Like the method above, proving the secret of {@code auth} when it has one. */
  static SocketChannel connect(InetSocketAddress peer, long generation, int from, int to, int world,
      AllReduceSettings settings, ChannelAuth auth, long deadlineNanos,
      java.util.function.Consumer<SocketChannel> opened) throws IOException {
    return connectRing(peer, generation, from, to, world, settings, auth, deadlineNanos, opened).channel();
  }

  /** Like the method above, returning the connection's encryption keys too (null when {@code auth} does not encrypt). */
  static Connected connectRing(InetSocketAddress peer, long generation, int from, int to, int world,
      AllReduceSettings settings, ChannelAuth auth, long deadlineNanos,
      java.util.function.Consumer<SocketChannel> opened) throws IOException {
    SocketChannel ch = connectRetrying(peer, settings, deadlineNanos, opened, e -> {
      throw new RingBrokenException(generation, to, peer,
          "rank " + from + " cannot connect to rank " + to + " at " + peer + " within "
              + settings.timeout() + " (bagpipe.allreduce.timeout): " + e.getMessage(), e);
    });
    DataOutputStream out = new DataOutputStream(ch.socket().getOutputStream());
    // One write: the port reads the whole header before it answers, even to refuse.
    byte[] header = ringHeader(ringMagic(auth), generation, from, to, world);
    out.write(header);
    out.flush();
    long left = Math.max(1, (deadlineNanos - System.nanoTime()) / 1_000_000);
    ch.socket().setSoTimeout((int) Math.min(Integer.MAX_VALUE, left));
    DataInputStream in = new DataInputStream(ch.socket().getInputStream());
    int status;
    ChannelCipher.Keys keys = null;
    try {
      if (auth.enabled()) {
        keys = auth.prove(in, out, header);
      }
      status = in.readUnsignedByte();
    } catch (SocketTimeoutException e) {
      ch.close();
      throw new RingBrokenException(generation, to, peer, "rank " + to + " at " + peer
          + " did not take rank " + from + "'s connection for ring generation " + generation + " within "
          + settings.timeout() + " (bagpipe.allreduce.timeout)", e);
    } catch (ChannelAuth.Refused e) {
      ch.close();
      throw new RingBrokenException(generation, to, peer,
          "rank " + to + " at " + peer + " failed the handshake of ring generation " + generation + ": " + e.getMessage(), e);
    } catch (IOException e) {
      String reason = e instanceof java.io.EOFException ? "" : ": " + e.getMessage();
      ch.close();
      throw new RingBrokenException(generation, to, peer,
          "rank " + to + " at " + peer + " closed the handshake of ring generation " + generation + reason, e);
    }
    ch.socket().setSoTimeout(0);
    if (status != OK) {
      String reason = readReason(in);
      ch.close();
      throw new RingBrokenException(generation, to, peer,
          "rank " + to + " at " + peer + " refused rank " + from + "'s connection: " + reason, null);
    }
    return new Connected(ch, keys);
  }

  /**
   * A connected channel to {@code peer}, retrying a refused connect every 50 ms until
   * {@code deadlineNanos}, after which {@code tooLate} makes the exception to throw;
   * {@code opened} gets each channel as soon as it exists, so a watchdog can close it.
   */
  private static SocketChannel connectRetrying(InetSocketAddress peer, AllReduceSettings settings, long deadlineNanos,
      java.util.function.Consumer<SocketChannel> opened,
      java.util.function.Function<ConnectException, IOException> tooLate) throws IOException {
    while (true) {
      SocketChannel ch = SocketChannel.open();
      opened.accept(ch);
      try {
        configure(ch, settings);
        ch.connect(peer);
        return ch;
      } catch (ConnectException e) {
        ch.close();
        if (System.nanoTime() - deadlineNanos > 0) {
          throw tooLate.apply(e);
        }
        try {
          Thread.sleep(50);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new ClosedChannelException();
        }
      }
    }
  }

  static void configure(SocketChannel ch, AllReduceSettings settings) throws IOException {
    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
    if (settings.socketBufferBytes() > 0) {
      ch.setOption(StandardSocketOptions.SO_SNDBUF, settings.socketBufferBytes());
      ch.setOption(StandardSocketOptions.SO_RCVBUF, settings.socketBufferBytes());
    }
  }

  static void closeQuietly(java.io.Closeable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (IOException ignored) {
      // closing is best effort
    }
  }

  /** Stops accepting and closes connections not yet taken by a ring. */
  @Override
  public void close() {
    closed = true;
    closeQuietly(server);
    synchronized (this) {
      for (Incoming p : parked.values()) {
        closeQuietly(p.channel());
      }
      parked.clear();
      for (CompletableFuture<Incoming> f : expected.values()) {
        f.completeExceptionally(new ClosedChannelException());
      }
      expected.clear();
      parkedTransfers.values().forEach(p -> closeQuietly(p.channel()));
      parkedTransfers.clear();
      expectedTransfers.values().forEach(f -> f.completeExceptionally(new ClosedChannelException()));
      expectedTransfers.clear();
    }
    try {
      acceptor.join(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public String toString() {
    return "DataPort[" + address + "]";
  }
}
