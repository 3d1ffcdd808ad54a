package io.bagpipe.allreduce;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The header of one ring frame, the same on every {@link Link}: {@code (type, round,
 * step, chunk, floats, vector length, weight, halt)} as 40 little-endian bytes. A
 * {@link #DATA} frame is followed by {@code floats} floats of a chunk; a
 * {@link #WHOLE} frame by a whole small vector of rank {@code chunk}, forwarded on the
 * direct path (ADR 0010); an {@link #ABORT} frame by {@code floats} bytes of UTF-8 reason. Mutable and reused
 * by one thread: a frame is a buffer, not a message.
 */
final class Frame {

  static final int DATA = 1;
  static final int ABORT = 2;
  static final int WHOLE = 3;
  static final int BYTES = 40;

  private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  int type;
  long round;
  int step;
  int chunk;
  int floats;
  int length;
  int weight;
  boolean halt;
  /** The reason an {@link #ABORT} frame carried, once read. */
  String reason;

  Frame data(long round, int step, int chunk, int floats, int length, int weight, boolean halt) {
    this.type = DATA;
    this.round = round;
    this.step = step;
    this.chunk = chunk;
    this.floats = floats;
    this.length = length;
    this.weight = weight;
    this.halt = halt;
    this.reason = null;
    return this;
  }

  /**
   * A {@link #WHOLE} frame: at {@code step} of the direct path, rank {@code origin}'s
   * whole vector of {@code floats} floats, with that rank's weight and halt bit.
   */
  Frame whole(long round, int step, int origin, int floats, int weight, boolean halt) {
    data(round, step, origin, floats, floats, weight, halt);
    this.type = WHOLE;
    return this;
  }

  /** Writes the header at {@code b}'s position (which must be little-endian). */
  void write(ByteBuffer b) {
    b.putInt(type).putLong(round).putInt(step).putInt(chunk).putInt(floats).putInt(length).putInt(weight)
        .putInt(halt ? 1 : 0).putInt(0);
  }

  /** Reads the header from {@code b}'s position (which must be little-endian). */
  void read(ByteBuffer b) {
    type = b.getInt();
    round = b.getLong();
    step = b.getInt();
    chunk = b.getInt();
    floats = b.getInt();
    length = b.getInt();
    weight = b.getInt();
    halt = b.getInt() != 0;
    b.getInt();
    reason = null;
  }

  void write(MemorySegment s, long at) {
    s.set(INT, at, type);
    s.set(LONG, at + 4, round);
    s.set(INT, at + 12, step);
    s.set(INT, at + 16, chunk);
    s.set(INT, at + 20, floats);
    s.set(INT, at + 24, length);
    s.set(INT, at + 28, weight);
    s.set(INT, at + 32, halt ? 1 : 0);
  }

  void read(MemorySegment s, long at) {
    type = s.get(INT, at);
    round = s.get(LONG, at + 4);
    step = s.get(INT, at + 12);
    chunk = s.get(INT, at + 16);
    floats = s.get(INT, at + 20);
    length = s.get(INT, at + 24);
    weight = s.get(INT, at + 28);
    halt = s.get(INT, at + 32) != 0;
    reason = null;
  }

  /**
   * Reads the reason that follows this {@link #ABORT} header on {@code ch} into
   * {@link #reason}, blocking (the sender wrote header and reason in one write).
   */
  void readReason(java.nio.channels.SocketChannel ch) throws java.io.IOException {
    ByteBuffer msg = ByteBuffer.allocate(Math.clamp(floats, 0, 1 << 16));
    ch.configureBlocking(true);
    Link.readFully(ch, msg);
    reason = new String(msg.array(), 0, msg.position(), java.nio.charset.StandardCharsets.UTF_8);
  }

  /** A whole abort frame: header and reason. */
  static ByteBuffer abort(String reason) {
    byte[] msg = String.valueOf(reason).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    Frame f = new Frame();
    f.type = ABORT;
    f.round = -1;
    f.step = -1;
    f.chunk = -1;
    f.floats = msg.length;
    ByteBuffer b = ByteBuffer.allocate(BYTES + msg.length).order(ByteOrder.LITTLE_ENDIAN);
    f.write(b);
    return b.put(msg).flip();
  }

  static ByteBuffer newHeaderBuffer() {
    return ByteBuffer.allocateDirect(BYTES).order(ByteOrder.LITTLE_ENDIAN);
  }
}
