package io.bagpipe.allreduce;

import java.net.InetSocketAddress;

/**
 * A ring all-reduce could not complete: a neighbour closed its connection, sent
 * nothing for {@code bagpipe.allreduce.timeout}, refused the handshake, or
 * reported that the ring broke further along. The ring is unusable afterwards;
 * the Coordinator decides what follows (typically a new ring with a higher
 * generation among the live workers).
 */
public final class RingBrokenException extends RuntimeException {

  private final long generation;
  private final int peerRank;
  private final InetSocketAddress peerAddress;
  private final boolean peerGone;

  /**
   * @param peerRank the neighbour the failure was seen on, -1 when none (a local close)
   * @param peerAddress its data address, null when none
   */
  public RingBrokenException(long generation, int peerRank, InetSocketAddress peerAddress, String message, Throwable cause) {
    this(generation, peerRank, peerAddress, false, message, cause);
  }

  /**
   * @param peerGone the neighbour's data port refuses connections: its worker stopped or its process died
   */
  public RingBrokenException(long generation, int peerRank, InetSocketAddress peerAddress, boolean peerGone,
      String message, Throwable cause) {
    super(message, cause);
    this.generation = generation;
    this.peerRank = peerRank;
    this.peerAddress = peerAddress;
    this.peerGone = peerGone;
  }

  /**
   * Whether the neighbour is known to be gone: after its connection closed, its data
   * port refused a new one, which a live worker's never does.
   */
  public boolean peerGone() {
    return peerGone;
  }

  /** The ring generation that broke. */
  public long generation() {
    return generation;
  }

  /** The neighbour rank the failure was observed on, -1 when none. */
  public int peerRank() {
    return peerRank;
  }

  /** The neighbour's data address, null when none. */
  public InetSocketAddress peerAddress() {
    return peerAddress;
  }
}
