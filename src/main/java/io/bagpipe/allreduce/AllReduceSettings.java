package io.bagpipe.allreduce;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The {@code bagpipe.allreduce} settings: the data channel that carries gradient
 * bytes between ring neighbours, TCP between hosts and shared memory within one
 * (see ADR 0005 and 0006).
 *
 * @param host address the data port binds to and advertises to the other ranks
 * @param port data port, 0 for an ephemeral one
 * @param chunkBytes the most gradient bytes in one frame (a multiple of 4)
 * @param window slots of a shared-memory link: frames a rank may have put there that
 *     its right neighbour has not taken yet (TCP links are bounded by TCP's flow control)
 * @param timeout how long a rank waits without progress from a neighbour (or for
 *     the ring to connect) before failing the round
 * @param socketBufferBytes SO_SNDBUF and SO_RCVBUF of data sockets, 0 for the OS default
 * @param transport {@link Transport#AUTO}: shared memory with a neighbour that proves
 *     to share this host's memory, TCP otherwise; {@link Transport#TCP}: always TCP
 * @param sharedMemoryDir where shared-memory segment files are created (a tmpfs)
 * @param directBelowBytes vectors of fewer bytes than this skip the ring's two phases:
 *     every rank's whole vector travels once around the ring and each rank sums them in
 *     rank order (latency-bound small vectors, ADR 0010); 0 never; at most {@code chunkBytes}
 */
public record AllReduceSettings(
    String host, int port, int chunkBytes, int window, Duration timeout, int socketBufferBytes,
    Transport transport, Path sharedMemoryDir, int directBelowBytes) {

  /** How frames travel between ring neighbours. */
  public enum Transport {
    /** Shared memory between ranks on one host, TCP between hosts. */
    AUTO,
    /** TCP always, also on one host. */
    TCP
  }

  public AllReduceSettings {
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("bagpipe.allreduce.host must name an address, e.g. 127.0.0.1");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("bagpipe.allreduce.port must be 0 (ephemeral) or 1..65535, got " + port);
    }
    if (chunkBytes < 4 || chunkBytes % 4 != 0 || chunkBytes > (1 << 30)) {
      throw new IllegalArgumentException(
          "bagpipe.allreduce.chunk-bytes must be a multiple of 4 between 4 B and 1 GiB, got " + chunkBytes);
    }
    if (window < 1) {
      throw new IllegalArgumentException("bagpipe.allreduce.window must be >= 1 chunk, got " + window);
    }
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("bagpipe.allreduce.timeout must be positive, got " + timeout);
    }
    if (socketBufferBytes < 0) {
      throw new IllegalArgumentException(
          "bagpipe.allreduce.socket-buffer-bytes must be >= 0 (0 = OS default), got " + socketBufferBytes);
    }
    if (transport == null) {
      throw new IllegalArgumentException("bagpipe.allreduce.transport must be auto or tcp");
    }
    if (sharedMemoryDir == null) {
      throw new IllegalArgumentException("bagpipe.allreduce.shared-memory-dir must name a directory, e.g. /dev/shm");
    }
    if (directBelowBytes < 0 || directBelowBytes > chunkBytes) {
      throw new IllegalArgumentException("bagpipe.allreduce.direct-below-bytes must be between 0 (never) and"
          + " bagpipe.allreduce.chunk-bytes (" + chunkBytes + "), got " + directBelowBytes);
    }
  }

  /** Whether a vector of {@code floats} floats takes the direct path rather than the ring's two phases. */
  public boolean direct(int floats) {
    return 4L * floats < directBelowBytes;
  }


  /** Floats per chunk. */
  public int chunkFloats() {
    return chunkBytes / 4;
  }

  /** Reads {@code bagpipe.allreduce}; a missing or mistyped key is an error naming it. */
  public static AllReduceSettings fromConfig(Config c) {
    return new AllReduceSettings(
        read(c, "host", c::getString),
        read(c, "port", c::getInt),
        read(c, "chunk-bytes", k -> bytes(c, k)),
        read(c, "window", c::getInt),
        read(c, "timeout", c::getDuration),
        read(c, "socket-buffer-bytes", k -> bytes(c, k)),
        read(c, "transport", k -> transport(c.getString(k))),
        read(c, "shared-memory-dir", k -> Path.of(c.getString(k))),
        read(c, "direct-below-bytes", k -> bytes(c, k)));
  }

  private static <T> T read(Config c, String key, java.util.function.Function<String, T> getter) {
    try {
      return getter.apply(key);
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.allreduce." + key + ": " + e.getMessage(), e);
    }
  }

  private static Transport transport(String value) {
    return switch (value) {
      case "auto" -> Transport.AUTO;
      case "tcp" -> Transport.TCP;
      default -> throw new IllegalArgumentException(
          "bagpipe.allreduce.transport must be auto or tcp, got \"" + value + "\"");
    };
  }

  private static int bytes(Config c, String key) {
    long b = c.getBytes(key);
    if (b > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("bagpipe.allreduce." + key + " must be below 2 GiB, got " + b);
    }
    return (int) b;
  }
}
