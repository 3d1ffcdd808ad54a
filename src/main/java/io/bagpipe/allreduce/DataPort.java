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
 */
public final class DataPort implements AutoCloseable {

  static final int MAGIC = 0x42505247; // "BPRG"
  static final int STATE_MAGIC = 0x42505354; // "BPST"
  static final int OK = 0;
  static final int REFUSED = 1;

  private final AllReduceSettings settings;
  private final ServerSocketChannel server;
  private final InetSocketAddress address;
  private final Thread acceptor;
  private final Map<Key, Incoming> parked = new HashMap<>();
  private final Map<Key, CompletableFuture<Incoming>> expected = new HashMap<>();
  private final Map<Long, SocketChannel> parkedTransfers = new HashMap<>();
  private final Map<Long, CompletableFuture<SocketChannel>> expectedTransfers = new HashMap<>();
  private long newest = Long.MIN_VALUE;
  private volatile boolean closed;

  private record Key(long generation, int from) {}

  /** A handshaken connection waiting for its ring to check it and answer. */
  record Incoming(SocketChannel channel, int to, int world) {}

  private DataPort(AllReduceSettings settings) throws IOException {
    this.settings = settings;
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
  }

  /** Binds {@code bagpipe.allreduce.host:port} (port 0: an ephemeral one) and starts accepting. */
  public static DataPort open(AllReduceSettings settings) throws IOException {
    return new DataPort(settings);
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
      Thread.ofVirtual().name("bagpipe-data-handshake").start(() -> handshake(ch));
    }
  }

  private void handshake(SocketChannel ch) {
    try {
      ch.socket().setSoTimeout((int) Math.min(Integer.MAX_VALUE, settings.timeout().toMillis()));
      DataInputStream in = new DataInputStream(ch.socket().getInputStream());
      int magic = in.readInt();
      if (magic == STATE_MAGIC) {
        long id = in.readLong();
        ch.socket().setSoTimeout(0);
        CompletableFuture<SocketChannel> waiter;
        synchronized (this) {
          waiter = expectedTransfers.remove(id);
          if (waiter == null) {
            SocketChannel old = parkedTransfers.put(id, ch);
            if (old != null) {
              refuse(old, "replaced by a newer connection for transfer " + id);
            }
            return;
          }
        }
        waiter.complete(ch);
        return;
      }
      if (magic != MAGIC) {
        ch.close();
        return;
      }
      long generation = in.readLong();
      int from = in.readInt();
      int to = in.readInt();
      int world = in.readInt();
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
          Incoming old = parked.put(key, new Incoming(ch, to, world));
          if (old != null) {
            refuse(old.channel(), "replaced by a newer connection from rank " + from + " for generation " + generation);
          }
          return;
        }
      }
      waiter.complete(new Incoming(ch, to, world));
    } catch (IOException e) {
      closeQuietly(ch);
    }
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

  /** The connection of bulk transfer {@code id}, once it arrives; not yet answered. */
  CompletableFuture<SocketChannel> expectTransfer(long id) {
    CompletableFuture<SocketChannel> f = new CompletableFuture<>();
    SocketChannel p;
    synchronized (this) {
      p = parkedTransfers.remove(id);
      if (p == null) {
        expectedTransfers.put(id, f);
        return f;
      }
    }
    f.complete(p);
    return f;
  }

  /** Stops waiting for transfer {@code id}. */
  synchronized void forgetTransfer(long id) {
    CompletableFuture<SocketChannel> f = expectedTransfers.remove(id);
    if (f != null) {
      f.completeExceptionally(new ClosedChannelException());
    }
    SocketChannel p = parkedTransfers.remove(id);
    if (p != null) {
      closeQuietly(p);
    }
  }

  /**
   * Opens bulk transfer {@code id} to the data port at {@code peer}: connects (retrying
   * a refused connect until {@code timeout} passed), handshakes and waits for the
   * receiver to take it. The caller writes the bytes and closes the channel.
   */
  static SocketChannel connectTransfer(InetSocketAddress peer, long id, AllReduceSettings settings) throws IOException {
    long deadline = System.nanoTime() + settings.timeout().toNanos();
    SocketChannel ch = connectRetrying(peer, settings, deadline, c -> {}, e -> new IOException(
        "cannot connect to the data port at " + peer + " within " + settings.timeout()
            + " (bagpipe.allreduce.timeout): " + e.getMessage(), e));
    DataOutputStream out = new DataOutputStream(ch.socket().getOutputStream());
    out.writeInt(STATE_MAGIC);
    out.writeLong(id);
    out.flush();
    ch.socket().setSoTimeout((int) Math.min(Integer.MAX_VALUE, settings.timeout().toMillis()));
    int status;
    try {
      status = new DataInputStream(ch.socket().getInputStream()).readUnsignedByte();
    } catch (IOException e) {
      ch.close();
      throw new IOException("the data port at " + peer + " did not take transfer " + id + " within "
          + settings.timeout() + " (bagpipe.allreduce.timeout)", e);
    }
    if (status != OK) {
      ch.close();
      throw new IOException("the data port at " + peer + " refused transfer " + id);
    }
    return ch;
  }

  /** Stops waiting for {@code generation}'s connection from {@code from}. */
  synchronized void forget(long generation, int from) {
    expected.remove(new Key(generation, from));
    Incoming p = parked.remove(new Key(generation, from));
    if (p != null) {
      closeQuietly(p.channel());
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
    SocketChannel ch = connectRetrying(peer, settings, deadlineNanos, opened, e -> {
      throw new RingBrokenException(generation, to, peer,
          "rank " + from + " cannot connect to rank " + to + " at " + peer + " within "
              + settings.timeout() + " (bagpipe.allreduce.timeout): " + e.getMessage(), e);
    });
    DataOutputStream out = new DataOutputStream(ch.socket().getOutputStream());
    out.writeInt(MAGIC);
    out.writeLong(generation);
    out.writeInt(from);
    out.writeInt(to);
    out.writeInt(world);
    out.flush();
    long left = Math.max(1, (deadlineNanos - System.nanoTime()) / 1_000_000);
    ch.socket().setSoTimeout((int) Math.min(Integer.MAX_VALUE, left));
    DataInputStream in = new DataInputStream(ch.socket().getInputStream());
    int status;
    try {
      status = in.readUnsignedByte();
    } catch (SocketTimeoutException e) {
      ch.close();
      throw new RingBrokenException(generation, to, peer, "rank " + to + " at " + peer
          + " did not take rank " + from + "'s connection for ring generation " + generation + " within "
          + settings.timeout() + " (bagpipe.allreduce.timeout)", e);
    } catch (IOException e) {
      ch.close();
      throw new RingBrokenException(generation, to, peer,
          "rank " + to + " at " + peer + " closed the handshake of ring generation " + generation, e);
    }
    ch.socket().setSoTimeout(0);
    if (status != OK) {
      String reason;
      try {
        reason = in.readUTF();
      } catch (IOException e) {
        reason = "no reason given";
      }
      ch.close();
      throw new RingBrokenException(generation, to, peer,
          "rank " + to + " at " + peer + " refused rank " + from + "'s connection: " + reason, null);
    }
    return ch;
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
      parkedTransfers.values().forEach(DataPort::closeQuietly);
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
