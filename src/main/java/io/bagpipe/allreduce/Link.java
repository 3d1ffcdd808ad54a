package io.bagpipe.allreduce;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How ring frames travel from a rank to its right neighbour once their TCP
 * connection is up (ADR 0006). The sender offers a transport and the receiver
 * answers:
 *
 * <ul>
 *   <li><b>Shared memory</b> ({@code bagpipe.allreduce.transport = auto}): the sender
 *       creates a segment file in {@code bagpipe.allreduce.shared-memory-dir} holding
 *       a random nonce and offers its path. Only a receiver that can map that file
 *       and read back the same nonce shares memory with the sender (the same host,
 *       the same tmpfs namespace, the same user), so it accepts; anything else
 *       declines. Frames then move through the segment ({@link SharedMemoryLink})
 *       and the TCP connection stays open as the liveness and abort channel.
 *   <li><b>TCP</b>: frames on the connection itself, flow-controlled by TCP alone
 *       ({@link TcpLink}, ADR 0010), between hosts or when either side is configured
 *       {@code transport = tcp}.
 * </ul>
 *
 * <p>Offer: {@code (type, nonce, segment bytes, path length)} little-endian and the
 * UTF-8 path; answer: one byte, 1 to use the segment. The sender deletes the file
 * once answered: the mappings live on until both sides close them, and nothing is
 * left in the directory when a process dies. The offer types changed with ADR 0010
 * (TCP frames lost their acknowledgements), so a neighbour that runs an older Bagpipe
 * is refused by name instead of waiting for acknowledgements that never come.
 */
final class Link {

  private static final Logger LOG = LoggerFactory.getLogger(Link.class);

  static final int OFFER_TCP = 5;
  static final int OFFER_SHARED_MEMORY = 6;
  /** What ADR 0006's Bagpipe offered (TCP frames acknowledged one by one); refused. */
  private static final int OLD_OFFER_TCP = 3;
  private static final int OLD_OFFER_SHARED_MEMORY = 4;
  private static final int OFFER_BYTES = 24;
  private static final int MAX_PATH_BYTES = 4096;

  private Link() {}

  /** The sending side of a link: frames to the right neighbour. */
  interface Outbound extends AutoCloseable {

    /**
     * Sends data frame {@code f} and its {@code f.floats} floats from {@code src[start]};
     * blocks while the neighbour has no room for it (shared memory: {@code
     * bagpipe.allreduce.window} frames not yet taken; TCP: full socket buffers).
     */
    void send(Frame f, float[] src, int start) throws IOException;

    /** Blocks until every frame sent is out of this side's hands (shared memory: taken by the neighbour). */
    void drain() throws IOException;

    /**
     * The bytes of an abort frame carrying {@code reason}, to write on the TCP connection
     * while holding its write lock: sealed like data frames on an encrypted TCP link, in
     * the clear otherwise.
     */
    default ByteBuffer abortFrame(String reason) throws IOException {
      return Frame.abort(reason);
    }

    /** {@code "tcp"}, {@code "tcp+encrypted"} or {@code "shared-memory"}. */
    String transport();

    @Override
    void close();
  }

  /** The receiving side of a link: frames from the left neighbour. */
  interface Inbound extends AutoCloseable {

    /** Reads the next frame's header into {@code f}; an {@link Frame#ABORT} frame comes with its reason. */
    void next(Frame f) throws IOException;

    /** Copies the current frame's {@code floats} floats into {@code dst[offset..]}. */
    void payload(float[] dst, int offset, int floats) throws IOException;

    /** Done with the current frame: its buffer may be reused by the sender (a no-op over TCP). */
    void release() throws IOException;

    String transport();

    @Override
    void close();
  }

  /**
   * Offers the right neighbour on {@code ch} (blocking, handshaken) a transport and
   * returns the one it accepted.
   *
   * @param name distinguishes this link's segment file (ring generation and ranks)
   * @param writes held while writing on {@code ch}, shared with the abort path
   * @param stopped true once the ring failed: waits give up
   */
  static Outbound offer(SocketChannel ch, AllReduceSettings s, String name, ReentrantLock writes,
      BooleanSupplier stopped) throws IOException {
    return offer(ch, s, name, writes, stopped, null);
  }

  /**
   * Like the method above on a connection whose handshake gave {@code keys}: a TCP link
   * then seals its frames with the connector-to-port key (null: frames in the clear). A
   * shared-memory link stays in the clear (docs/security.md).
   */
  static Outbound offer(SocketChannel ch, AllReduceSettings s, String name, ReentrantLock writes,
      BooleanSupplier stopped, ChannelCipher.Keys keys) throws IOException {
    SharedMemoryLink.Segment segment = null;
    if (s.transport() == AllReduceSettings.Transport.AUTO && usableDirectory(s.sharedMemoryDir(), name)) {
      try {
        segment = SharedMemoryLink.Segment.create(s.sharedMemoryDir(), name, s.window(), s.chunkBytes());
      } catch (IOException | RuntimeException e) {
        LOG.warn("gradient ring {}: cannot make a {}-byte shared-memory segment in {} ({}), so this link uses the"
            + " slower TCP; give that directory room (bagpipe.allreduce.window x chunk-bytes per link), point"
            + " bagpipe.allreduce.shared-memory-dir elsewhere, or set bagpipe.allreduce.transport = tcp",
            name, (long) s.window() * s.chunkBytes(), s.sharedMemoryDir(), e.toString());
      }
    }
    try {
      byte[] path = segment == null ? new byte[0] : segment.path().toString().getBytes(StandardCharsets.UTF_8);
      ByteBuffer offer = ByteBuffer.allocate(OFFER_BYTES + path.length).order(ByteOrder.LITTLE_ENDIAN);
      offer.putInt(segment == null ? OFFER_TCP : OFFER_SHARED_MEMORY)
          .putLong(segment == null ? 0 : segment.nonce())
          .putLong(segment == null ? 0 : segment.bytes())
          .putInt(path.length).put(path).flip();
      writes.lock(); // an abort frame may be written concurrently; never interleave with it
      try {
        writeFully(ch, offer);
      } finally {
        writes.unlock();
      }
      ByteBuffer answer = ByteBuffer.allocate(1);
      readFully(ch, answer);
      if (segment == null || answer.get(0) != 1) {
        // a declined segment is removed and unmapped below
        return new TcpLink.Outbound(ch, s, writes, keys == null ? null : ChannelCipher.sealing(keys.connectorToPort()));
      }
      segment.unlink(); // both sides have it mapped: the file has done its job
      SharedMemoryLink.Outbound out = new SharedMemoryLink.Outbound(segment, ch, stopped);
      segment = null;
      return out;
    } finally {
      if (segment != null) {
        segment.unlink();
        segment.close();
      }
    }
  }

  /** Answers the left neighbour's offer on {@code ch} (blocking, handshaken). */
  static Inbound answer(SocketChannel ch, AllReduceSettings s, BooleanSupplier stopped) throws IOException {
    return answer(ch, s, stopped, null);
  }

  /** Like the method above on a connection whose handshake gave {@code keys} (null: frames in the clear). */
  static Inbound answer(SocketChannel ch, AllReduceSettings s, BooleanSupplier stopped, ChannelCipher.Keys keys)
      throws IOException {
    ByteBuffer offer = ByteBuffer.allocate(Math.max(OFFER_BYTES, Frame.BYTES)).order(ByteOrder.LITTLE_ENDIAN);
    offer.limit(4);
    readFully(ch, offer);
    if (offer.getInt(0) == Frame.ABORT) { // the neighbour failed before it could offer
      offer.limit(Frame.BYTES);
      readFully(ch, offer);
      Frame f = new Frame();
      f.read(offer.flip());
      f.readReason(ch);
      throw new IOException("told that the ring broke: " + f.reason);
    }
    offer.limit(OFFER_BYTES);
    readFully(ch, offer);
    offer.flip();
    int type = offer.getInt();
    long nonce = offer.getLong();
    long bytes = offer.getLong();
    int pathBytes = offer.getInt();
    if (type == OLD_OFFER_TCP || type == OLD_OFFER_SHARED_MEMORY) {
      throw new IOException("the left neighbour runs an older Bagpipe whose ring protocol acknowledges every frame"
          + " (docs/adr/0014): run the same Bagpipe version on every node");
    }
    if ((type != OFFER_TCP && type != OFFER_SHARED_MEMORY) || pathBytes < 0 || pathBytes > MAX_PATH_BYTES) {
      throw new IOException("expected a transport offer, got type " + type + " with a " + pathBytes + "-byte path");
    }
    ByteBuffer pathBuffer = ByteBuffer.allocate(pathBytes);
    readFully(ch, pathBuffer);
    SharedMemoryLink.Segment segment = null;
    if (type == OFFER_SHARED_MEMORY && s.transport() == AllReduceSettings.Transport.AUTO) {
      Path path = Path.of(new String(pathBuffer.array(), StandardCharsets.UTF_8));
      segment = SharedMemoryLink.Segment.open(s.sharedMemoryDir(), path, nonce, bytes);
    }
    ByteBuffer answer = ByteBuffer.allocate(1).put((byte) (segment == null ? 0 : 1)).flip();
    try {
      writeFully(ch, answer);
    } catch (IOException e) {
      if (segment != null) {
        segment.close();
      }
      throw e;
    }
    return segment == null
        ? new TcpLink.Inbound(ch, s, keys == null ? null : ChannelCipher.opening(keys.connectorToPort()))
        : new SharedMemoryLink.Inbound(segment, ch, stopped);
  }

  /**
   * Whether {@code dir} exists and is on a local file system. On a network one (NFS,
   * SMB, Lustre, GPFS, BeeGFS, Ceph, FUSE mounts) processes on two hosts could both
   * map the same file and pass the nonce check without sharing memory coherently.
   */
  private static boolean usableDirectory(Path dir, String name) {
    if (!Files.isDirectory(dir)) {
      LOG.warn("gradient ring {}: bagpipe.allreduce.shared-memory-dir {} is not a directory, so this link uses the"
          + " slower TCP; point it at a tmpfs such as /dev/shm, or set bagpipe.allreduce.transport = tcp", name, dir);
      return false;
    }
    String type;
    try {
      type = Files.getFileStore(dir).type().toLowerCase(java.util.Locale.ROOT);
    } catch (IOException e) {
      return false;
    }
    boolean network = type.startsWith("nfs") || type.startsWith("cifs") || type.startsWith("smb")
        || type.startsWith("fuse") || type.equals("lustre") || type.equals("gpfs") || type.equals("beegfs")
        || type.startsWith("ceph") || type.equals("9p");
    if (network) {
      LOG.warn("gradient ring {}: bagpipe.allreduce.shared-memory-dir {} is on a network file system ({}), so this"
          + " link uses TCP; point it at a local tmpfs such as /dev/shm", name, dir, type);
    }
    return !network;
  }

  static void readFully(SocketChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        throw new EOFException("connection closed by the peer");
      }
    }
  }

  static void writeFully(SocketChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }
}
