package io.bagpipe.allreduce;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * A worker's side of a ring whose other ranks live in other processes (on this host
 * or others): its {@link DataPort} (opened once, its address advertised to the
 * Coordinator) and the {@link RingAllReduce} of the generation it last joined;
 * joining a new generation closes the previous ring. Ranks in one JVM use
 * {@link LocalRing} instead.
 */
public final class RemoteRing implements AllReduceFactory {

  private final AllReduceSettings settings;
  private final DataPort port;
  private RingAllReduce current;

  public RemoteRing(AllReduceSettings settings) {
    this(settings, ChannelAuth.NONE);
  }

  /** A ring member whose data port admits, and whose connections prove, only holders of {@code auth}'s secret. */
  public RemoteRing(AllReduceSettings settings, ChannelAuth auth) {
    this.settings = settings;
    try {
      this.port = DataPort.open(settings, auth);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open the gradient data port on " + settings.host() + ":" + settings.port()
          + " (bagpipe.allreduce.host/port): " + e.getMessage(), e);
    }
  }

  @Override
  public String address() {
    InetSocketAddress a = port.address();
    return a.getHostString() + ":" + a.getPort();
  }

  @Override
  public synchronized AllReduce join(long generation, int rank, List<String> addresses) {
    if (current != null) {
      current.close();
    }
    List<InetSocketAddress> peers = new ArrayList<>();
    for (String a : addresses) {
      peers.add(socketAddress(a));
    }
    current = new RingAllReduce(port, generation, rank, peers, settings);
    return current;
  }

  private static InetSocketAddress socketAddress(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
  }

  @Override
  public CompletionStage<Void> send(String to, long id, TransferWriter body) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    Thread.ofVirtual().name("bagpipe-transfer-" + id + "-send").start(() -> {
      DataPort.Connected c = null;
      try {
        c = DataPort.connectTransfer(socketAddress(to), id, settings, port.auth());
      } catch (IOException | RuntimeException e) {
        done.completeExceptionally(e);
        return;
      }
      try (SocketChannel ch = c.channel();
          OutputStream out = sealed(Channels.newOutputStream(ch), c.keys())) {
        body.write(out);
        out.close(); // a sealed stream's last record: the receiver tells a finished transfer from a cut one
        done.complete(null);
      } catch (IOException | RuntimeException e) {
        done.completeExceptionally(e);
      }
    });
    return done;
  }

  /** {@code out} itself, or records sealed with the connection's connector-to-port key. */
  private static OutputStream sealed(OutputStream out, ChannelCipher.Keys keys) {
    return keys == null ? out : new ChannelCipher.SealedOutputStream(out, ChannelCipher.sealing(keys.connectorToPort()));
  }

  @Override
  public <T> CompletionStage<T> receive(long id, TransferReader<T> reader) {
    CompletableFuture<T> result = new CompletableFuture<>();
    port.expectTransfer(id).orTimeout(settings.timeout().toMillis(), TimeUnit.MILLISECONDS).whenComplete((c, e) -> {
      if (e != null) {
        port.forgetTransfer(id);
        result.completeExceptionally(new IOException("transfer " + id + " did not arrive at " + port.address()
            + " within " + settings.timeout() + " (bagpipe.allreduce.timeout)", e));
        return;
      }
      Thread.ofVirtual().name("bagpipe-transfer-" + id + "-receive").start(() -> {
        try (SocketChannel ch = c.channel()) {
          DataPort.accept(ch);
          ch.socket().setSoTimeout((int) Math.min(Integer.MAX_VALUE, settings.timeout().toMillis()));
          java.io.InputStream in = ch.socket().getInputStream();
          if (c.keys() != null) {
            in = new ChannelCipher.SealedInputStream(in, ChannelCipher.opening(c.keys().connectorToPort()),
                "transfer " + id + " to " + port.address());
          }
          result.complete(reader.read(in));
        } catch (IOException | RuntimeException x) {
          result.completeExceptionally(x);
        }
      });
    });
    return result;
  }

  /** Closes the ring on a thread of its own: its threads may take a moment to finish, and the worker must not wait. */
  @Override
  public synchronized void leave() {
    if (current != null) {
      RingAllReduce ring = current;
      current = null;
      Thread.ofVirtual().name("bagpipe-ring-leave").start(ring::close);
    }
  }

  @Override
  public synchronized void close() {
    if (current != null) {
      current.close();
    }
    port.close();
  }
}
