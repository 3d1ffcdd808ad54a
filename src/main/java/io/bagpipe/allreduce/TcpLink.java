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
 */
final class TcpLink {

  private TcpLink() {}

  static final class Outbound implements Link.Outbound {

    private final SocketChannel ch;
    private final ReentrantLock writes;
    private final ByteBuffer header = Frame.newHeaderBuffer();
    private final ByteBuffer payload;
    private final FloatBuffer floats;
    private final ByteBuffer[] frame;

    Outbound(SocketChannel ch, AllReduceSettings s, ReentrantLock writes) {
      this.ch = ch;
      this.writes = writes;
      this.payload = ByteBuffer.allocateDirect(s.chunkBytes()).order(ByteOrder.LITTLE_ENDIAN);
      this.floats = payload.asFloatBuffer();
      this.frame = new ByteBuffer[] {header, payload};
    }

    @Override
    public void send(Frame f, float[] src, int start) throws IOException {
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

    /** Nothing to wait for: once {@link #send} returned, the kernel holds every byte. */
    @Override
    public void drain() {}

    @Override
    public String transport() {
      return "tcp";
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

    Inbound(SocketChannel ch, AllReduceSettings s) {
      this.ch = ch;
      this.payload = ByteBuffer.allocateDirect(s.chunkBytes()).order(ByteOrder.LITTLE_ENDIAN);
      this.floats = payload.asFloatBuffer();
    }

    @Override
    public void next(Frame f) throws IOException {
      header.clear();
      Link.readFully(ch, header);
      header.flip();
      f.read(header);
      if (f.type == Frame.ABORT) {
        f.readReason(ch);
      } else if (f.floats < 0 || f.floats > payload.capacity() / 4) {
        throw new IOException("frame of " + f.floats + " floats, more than a chunk of " + payload.capacity() / 4
            + " (is bagpipe.allreduce.chunk-bytes the same on every node?)");
      }
    }

    @Override
    public void payload(float[] dst, int offset, int n) throws IOException {
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
      return "tcp";
    }

    @Override
    public void close() {
      // the ring closes the connection
    }
  }
}
