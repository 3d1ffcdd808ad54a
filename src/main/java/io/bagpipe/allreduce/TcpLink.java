package io.bagpipe.allreduce;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Ring frames on the TCP connection itself (ADR 0005, 0010): each frame is its header
 * and payload written with one gathering write from direct buffers, and nothing comes
 * back. TCP's own flow control bounds what is in flight (the two socket buffers): a
 * sender whose neighbour stops reading blocks in {@code write}, which the ring's
 * watchdog sees, and one whose neighbour died gets a reset from the kernel. An
 * application-level acknowledgement per frame (ADR 0005 had one) cost a small write,
 * a read and a thread wake-up per chunk on each side and bounded nothing TCP does not.
 *
 * <p><b>Sealed frames.</b> When the data channel encrypts ({@code
 * bagpipe.security.encrypt-data = on}) a frame is its 40-byte header in the clear, then
 * the payload (floats, or an abort's reason) encrypted with AES-256-GCM and its 16-byte
 * tag, the header being the associated data and the frame counter the nonce
 * ({@link ChannelCipher}). The sender copies the chunk into its frame buffer and seals
 * it there in place; the receiver reads the sealed frame into one and opens it there
 * before {@link Inbound#next} returns, so no header or payload of a frame that fails its
 * tag reaches the ring.
 */
final class TcpLink {

  private TcpLink() {}

  /**
   * A frame buffer: direct for frames in the clear (the socket reads and writes it without
   * a copy); on the heap for sealed ones, where the JDK's AES-GCM intrinsic works on the
   * array itself and ran about twice as fast as on a direct buffer, which outweighs the
   * socket's copy (docs/adr/0021).
   */
  private static ByteBuffer buffer(int bytes, boolean sealed) {
    return (sealed ? ByteBuffer.allocate(bytes) : ByteBuffer.allocateDirect(bytes)).order(ByteOrder.LITTLE_ENDIAN);
  }

  /** Longest abort reason a sealed link carries (the plain one reads at most this much too). */
  static final int MAX_REASON_BYTES = 1 << 16;

  static final class Outbound implements Link.Outbound {

    private final SocketChannel ch;
    private final ReentrantLock writes;
    private final ByteBuffer header = Frame.newHeaderBuffer();
    private final ByteBuffer payload;
    private final FloatBuffer floats;
    private final ByteBuffer[] frame;
    /** Seals frames, or null: frames go in the clear. */
    private final ChannelCipher cipher;

    Outbound(SocketChannel ch, AllReduceSettings s, ReentrantLock writes) {
      this(ch, s, writes, null);
    }

    /** Frames sealed by {@code cipher} (null: in the clear). */
    Outbound(SocketChannel ch, AllReduceSettings s, ReentrantLock writes, ChannelCipher cipher) {
      this.ch = ch;
      this.writes = writes;
      this.cipher = cipher;
      int tag = cipher == null ? 0 : ChannelCipher.TAG_BYTES;
      this.payload = buffer(s.chunkBytes() + tag, cipher != null);
      this.floats = payload.asFloatBuffer();
      this.frame = new ByteBuffer[] {header, payload};
    }

    @Override
    public void send(Frame f, float[] src, int start) throws IOException {
      if (cipher != null) {
        sendSealed(f, src, start);
        return;
      }
      header.clear();
      f.write(header);
      header.flip();
      floats.clear();
      floats.put(src, start, f.floats);
      payload.clear().limit(f.floats * 4);
      writes.lock();
      try {
        while (payload.hasRemaining() || header.hasRemaining()) {
          ch.write(frame);
        }
      } finally {
        writes.unlock();
      }
    }

    /**
     * Seals and writes under the write lock: an abort frame written meanwhile takes the next
     * counter value only once this frame is on its way, so frames leave in counter order.
     */
    private void sendSealed(Frame f, float[] src, int start) throws IOException {
      writes.lock();
      try {
        header.clear();
        f.write(header);
        header.flip();
        floats.clear();
        floats.put(src, start, f.floats);
        ByteBuffer plain = payload.clear().limit(f.floats * 4).slice();
        payload.clear();
        cipher.seal(header, plain, payload); // in place: the ciphertext overwrites the floats
        payload.flip();
        while (payload.hasRemaining() || header.hasRemaining()) {
          ch.write(frame);
        }
      } finally {
        writes.unlock();
      }
    }

    /** Called holding the write lock. */
    @Override
    public ByteBuffer abortFrame(String reason) throws IOException {
      if (cipher == null) {
        return Frame.abort(reason);
      }
      String r = String.valueOf(reason);
      ByteBuffer plain = Frame.abort(r.length() > MAX_REASON_BYTES / 4 ? r.substring(0, MAX_REASON_BYTES / 4) : r);
      ByteBuffer head = plain.duplicate().limit(Frame.BYTES);
      ByteBuffer msg = plain.duplicate().position(Frame.BYTES);
      ByteBuffer out = ByteBuffer.allocate(plain.remaining() + ChannelCipher.TAG_BYTES);
      out.put(head.duplicate());
      cipher.seal(head, msg, out);
      return out.flip();
    }

    /** Nothing to wait for: once {@link #send} returned, the kernel holds every byte. */
    @Override
    public void drain() {}

    @Override
    public String transport() {
      return cipher == null ? "tcp" : "tcp+encrypted";
    }

    @Override
    public void close() {
      // the ring closes the connection
    }
  }

  static final class Inbound implements Link.Inbound {

    private final SocketChannel ch;
    private final ByteBuffer header = Frame.newHeaderBuffer();
    private final ByteBuffer payload;
    private final FloatBuffer floats;
    /** Opens frames, or null: frames come in the clear. */
    private final ChannelCipher cipher;

    Inbound(SocketChannel ch, AllReduceSettings s) {
      this(ch, s, null);
    }

    /** Frames sealed with {@code cipher}'s key (null: in the clear). */
    Inbound(SocketChannel ch, AllReduceSettings s, ChannelCipher cipher) {
      this.ch = ch;
      this.cipher = cipher;
      int tag = cipher == null ? 0 : ChannelCipher.TAG_BYTES;
      this.payload = buffer(s.chunkBytes() + tag, cipher != null);
      this.floats = payload.asFloatBuffer();
    }

    @Override
    public void next(Frame f) throws IOException {
      header.clear();
      Link.readFully(ch, header);
      header.flip();
      f.read(header);
      header.rewind();
      if (cipher != null) {
        openSealed(f);
        return;
      }
      if (f.type == Frame.ABORT) {
        f.readReason(ch);
      } else if (f.floats < 0 || f.floats > payload.capacity() / 4) {
        throw new IOException("frame of " + f.floats + " floats, more than a chunk of " + payload.capacity() / 4
            + " (is bagpipe.allreduce.chunk-bytes the same on every node?)");
      }
    }

    /** Reads the rest of a sealed frame and opens it in place; its floats or reason are then ready. */
    private void openSealed(Frame f) throws IOException {
      int limit = f.type == Frame.ABORT ? MAX_REASON_BYTES : payload.capacity() / 4 - ChannelCipher.TAG_BYTES / 4;
      if (f.floats < 0 || f.floats > limit) {
        throw new ChannelCipher.Tampered("frame " + cipher.counter() + " claims " + f.floats + (f.type == Frame.ABORT
            ? " bytes of reason" : " floats") + ", more than " + limit + ": its header was tampered with in flight, or"
            + " bagpipe.allreduce.chunk-bytes differs between nodes");
      }
      if (f.type == Frame.ABORT) {
        ByteBuffer sealed = ByteBuffer.allocate(f.floats + ChannelCipher.TAG_BYTES);
        Link.readFully(ch, sealed);
        ByteBuffer msg = ByteBuffer.allocate(f.floats + ChannelCipher.TAG_BYTES);
        cipher.open(header, sealed.flip(), msg);
        f.reason = new String(msg.array(), 0, msg.position(), java.nio.charset.StandardCharsets.UTF_8);
        return;
      }
      payload.clear().limit(f.floats * 4 + ChannelCipher.TAG_BYTES);
      Link.readFully(ch, payload);
      payload.flip();
      ByteBuffer out = payload.duplicate().clear();
      cipher.open(header, payload, out); // in place: the floats overwrite the ciphertext
    }

    @Override
    public void payload(float[] dst, int offset, int n) throws IOException {
      if (cipher != null) {
        floats.clear();
        floats.get(dst, offset, n); // opened by next()
        return;
      }
      payload.clear().limit(n * 4);
      Link.readFully(ch, payload);
      floats.clear();
      floats.get(dst, offset, n);
    }

    /** Nothing to tell the sender: reading the bytes freed their room in the socket buffers. */
    @Override
    public void release() {}

    @Override
    public String transport() {
      return cipher == null ? "tcp" : "tcp+encrypted";
    }

    @Override
    public void close() {
      // the ring closes the connection
    }
  }
}
