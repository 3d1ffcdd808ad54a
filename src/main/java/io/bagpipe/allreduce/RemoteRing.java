package io.bagpipe.allreduce;

import java.io.IOException;
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
    this.settings = settings;
    try {
      this.port = DataPort.open(settings);
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
      int colon = a.lastIndexOf(':');
      peers.add(new InetSocketAddress(a.substring(0, colon), Integer.parseInt(a.substring(colon + 1))));
    }
    current = new RingAllReduce(port, generation, rank, peers, settings);
    return current;
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
