package io.bagpipe.allreduce;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Ring frames on the TCP connection itself (ADR 0005): each frame is its header and
 * payload written with one gathering write from direct buffers; the receiver answers
 * every frame with an 8-byte acknowledgement (the count of frames it has taken), and
 * a sender keeps at most {@code window} frames unacknowledged. The window bounds what
 * a stalled receiver can have in flight and lets the sender see a neighbour that stopped
 * reading.
 */
final class TcpLink {

  private TcpLink() {}

  static final class Outbound implements Link.Outbound {

    private final SocketChannel ch;
    private final int window;
    private final ReentrantLock writes;
    private final ByteBuffer header = Frame.newHeaderBuffer();
    private final ByteBuffer payload;
    private final FloatBuffer floats;
    private final ByteBuffer ack = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer[] frame;
    private long sent;
    private long acked;

    Outbound(SocketChannel ch, AllReduceSettings s, ReentrantLock writes) {
      this.ch = ch;
      this.window = s.window();
      this.writes = writes;
      this.payload = ByteBuffer.allocateDirect(s.chunkBytes()).order(ByteOrder.LITTLE_ENDIAN);
      this.floats = payload.asFloatBuffer();
      this.frame = new ByteBuffer[] {header, payload};
    }

    @Override
    public void send(Frame f, float[] src, int start) throws IOException {
      while (sent - acked >= window) {
        readAck();
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
      sent++;
    }

    @Override
    public void drain() throws IOException {
      while (acked < sent) {
        readAck();
      }
    }

    private void readAck() throws IOException {
      ack.clear();
      Link.readFully(ch, ack);
      long a = ack.flip().getLong();
      if (a != acked + 1) {
        throw new IOException("acknowledgement " + a + " after " + acked);
      }
      acked = a;
    }

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
    private final ByteBuffer ack = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
    private long received;

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

    @Override
    public void release() throws IOException {
      received++;
      ack.clear();
      ack.putLong(received).flip();
      Link.writeFully(ch, ack);
    }

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
