package io.bagpipe.allreduce;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * Ring frames through memory shared by two processes on one host (ADR 0006): a
 * single-producer single-consumer queue of {@code window} slots in a memory-mapped
 * file, each slot a frame header and up to a chunk of floats.
 *
 * <p><b>Why.</b> Over loopback TCP every gradient byte is copied four times (array to
 * direct buffer, into the kernel, out of it, into an array) and each direction of the
 * ring costs a core's worth of kernel copying; through a shared segment the sender
 * copies a chunk in once and the receiver adds it straight out, and a chunk stays in
 * the cache between the two. This is what NCCL's and MPI's shared-memory transports do
 * for ranks on one node.
 *
 * <p><b>Protocol.</b> The sender owns {@code produced} (frames written), the receiver
 * {@code consumed} (frames taken); each only writes its own counter, with release
 * semantics, and reads the other's with acquire semantics, so a slot's bytes are
 * visible before the counter that publishes them. Slot {@code i mod window} is free
 * for frame {@code i} once {@code i - consumed < window}: the consumed counter is the
 * acknowledgement and the window the bound on what is in flight (over TCP, TCP's own
 * flow control is that bound, ADR 0010).
 *
 * <p><b>Waiting.</b> A side that finds nothing to do spins briefly (a chunk takes tens
 * of microseconds), then yields, then parks for growing intervals so that a neighbour
 * still computing its gradient costs little CPU. While parked it polls the TCP
 * connection, which stays open for exactly this: a neighbour that dies closes it, and
 * a neighbour that breaks the ring sends its abort frame on it.
 */
final class SharedMemoryLink {

  private static final long MAGIC = 0x3147524d48535042L; // "BPSHMRG1"
  private static final String PREFIX = "bagpipe-";
  private static final long NONCE = 8;
  private static final long SLOTS = 16;
  private static final long SLOT_BYTES = 24;
  private static final long PRODUCED = 128;
  private static final long CONSUMED = 256;
  private static final long FIRST_SLOT = 4096;
  private static final long PAYLOAD = 64;

  private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle COUNTER = ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

  private static final int SPINS = 200;
  private static final int YIELDS = 50;
  private static final SecureRandom RANDOM = new SecureRandom();

  private SharedMemoryLink() {}

  /**
   * Deletes segment files in {@code dir} whose creating process (the pid in the name)
   * is no longer running: a process that dies between creating a segment and its
   * neighbour's answer leaves its file behind, and a tmpfs holds it in memory until
   * someone removes it. Files of live processes, and files this user may not delete,
   * stay. Returns how many were deleted.
   */
  static int sweepStale(Path dir) {
    int deleted = 0;
    try (var files = Files.newDirectoryStream(dir, PREFIX + "*")) {
      for (Path f : files) {
        String name = f.getFileName().toString();
        int dash = name.indexOf('-', PREFIX.length());
        long pid;
        try {
          pid = Long.parseLong(name.substring(PREFIX.length(), dash < 0 ? name.length() : dash));
        } catch (NumberFormatException e) {
          continue; // not a segment file
        }
        if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
            || !Files.isRegularFile(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
          continue;
        }
        try {
          Files.delete(f);
          deleted++;
        } catch (IOException e) {
          // another user's file, or gone already
        }
      }
    } catch (IOException | java.nio.file.DirectoryIteratorException e) {
      // no directory, or unreadable: links then use TCP and say so
    }
    return deleted;
  }

  /** A mapped segment file: the sender creates it, the receiver opens it by path and nonce. */
  static final class Segment implements AutoCloseable {

    private final Arena arena;
    private final MemorySegment memory;
    private final Path path;
    private final long nonce;
    private final int slots;
    private final long slotBytes;

    private Segment(Arena arena, MemorySegment memory, Path path, long nonce, int slots, long slotBytes) {
      this.arena = arena;
      this.memory = memory;
      this.path = path;
      this.nonce = nonce;
      this.slots = slots;
      this.slotBytes = slotBytes;
    }

    /** Creates, sizes and maps a new segment of {@code slots} chunk-sized slots in {@code dir}, readable only by this user. */
    static Segment create(Path dir, String name, int slots, int chunkBytes) throws IOException {
      long slotBytes = (PAYLOAD + chunkBytes + 63) & ~63L;
      long bytes = FIRST_SLOT + slots * slotBytes;
      long nonce = RANDOM.nextLong();
      Path path = dir.resolve(PREFIX + ProcessHandle.current().pid() + "-" + name + "-"
          + Long.toHexString(RANDOM.nextLong() >>> 1));
      if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
        Files.createFile(path, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      } else {
        Files.createFile(path);
      }
      Arena arena = Arena.ofShared();
      try (FileChannel fc = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
        // Write every byte rather than extending a sparse file: a full tmpfs then fails
        // here with an IOException, never later as a bus error inside the mapping.
        ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
        for (long at = 0; at < bytes; ) {
          zeros.clear().limit((int) Math.min(zeros.capacity(), bytes - at));
          at += fc.write(zeros, at);
        }
        MemorySegment m = fc.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
        m.set(LONG, NONCE, nonce);
        m.set(INT, SLOTS, slots);
        m.set(LONG, SLOT_BYTES, slotBytes);
        m.set(LONG, 0, MAGIC);
        return new Segment(arena, m, path, nonce, slots, slotBytes);
      } catch (IOException | RuntimeException e) {
        arena.close();
        Files.deleteIfExists(path);
        throw e;
      } catch (InternalError e) { // a fault inside the mapping, reported by the JVM
        arena.close();
        Files.deleteIfExists(path);
        throw new IOException("cannot use " + path + ": " + e.getMessage(), e);
      }
    }

    /**
     * Maps the segment the sender offered, or returns null when this process cannot
     * see it (another host, another tmpfs, another user), it holds another nonce, or
     * the path is not a segment file in {@code dir} (this side's
     * {@code shared-memory-dir}: an offer never makes a rank map any other file).
     */
    static Segment open(Path dir, Path path, long nonce, long bytes) {
      Path file = path.getFileName();
      if (bytes < FIRST_SLOT || file == null || !file.toString().startsWith(PREFIX)
          || !dir.toAbsolutePath().normalize().equals(path.toAbsolutePath().normalize().getParent())
          || !Files.isRegularFile(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        return null;
      }
      Arena arena = Arena.ofShared();
      try (FileChannel fc = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
        if (fc.size() != bytes) {
          arena.close();
          return null;
        }
        MemorySegment m = fc.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
        int slots = m.get(INT, SLOTS);
        long slotBytes = m.get(LONG, SLOT_BYTES);
        if (m.get(LONG, 0) != MAGIC || m.get(LONG, NONCE) != nonce || slots < 1 || slotBytes < PAYLOAD
            || FIRST_SLOT + slots * slotBytes != bytes) {
          arena.close();
          return null;
        }
        return new Segment(arena, m, path, nonce, slots, slotBytes);
      } catch (IOException | RuntimeException e) {
        arena.close();
        return null;
      }
    }

    Path path() {
      return path;
    }

    long nonce() {
      return nonce;
    }

    long bytes() {
      return memory.byteSize();
    }

    /** Removes the file; the mappings stay valid until closed. */
    void unlink() {
      try {
        Files.deleteIfExists(path);
      } catch (IOException ignored) {
        // a leftover file in the shared-memory directory is harmless and named after its pid
      }
    }

    long slot(long frame) {
      return FIRST_SLOT + Math.floorMod(frame, slots) * slotBytes;
    }

    long produced() {
      return (long) COUNTER.getAcquire(memory, PRODUCED);
    }

    long consumed() {
      return (long) COUNTER.getAcquire(memory, CONSUMED);
    }

    @Override
    public void close() {
      arena.close();
    }
  }

  /** Waits with backoff and watches the TCP connection meanwhile. */
  private abstract static class Side {

    final Segment segment;
    final MemorySegment memory;
    final SocketChannel ch;
    final BooleanSupplier stopped;
    private final ByteBuffer control = ByteBuffer.allocate(Frame.BYTES).order(ByteOrder.LITTLE_ENDIAN);

    Side(Segment segment, SocketChannel ch, BooleanSupplier stopped) throws IOException {
      this.segment = segment;
      this.memory = segment.memory;
      this.ch = ch;
      this.stopped = stopped;
      ch.configureBlocking(false);
    }

    /**
     * One step of waiting: spin, then yield, then park for 20 us growing to 1 ms,
     * polling the connection while parked. Returns the next idle count, or -1 when
     * the neighbour sent an abort frame (then in {@code f}).
     */
    int idle(int n, Frame f) throws IOException {
      if (n < SPINS) {
        Thread.onSpinWait();
      } else if (n < SPINS + YIELDS) {
        Thread.yield();
      } else {
        int parked = n - SPINS - YIELDS;
        LockSupport.parkNanos(parked < 200 ? 20_000 : parked < 400 ? 200_000 : 1_000_000);
        if (stopped.getAsBoolean()) {
          throw new AsynchronousCloseException();
        }
        if (poll(f)) {
          return -1;
        }
      }
      return n + 1;
    }

    /** Reads what the connection holds without blocking: end of stream, or an abort frame. */
    private boolean poll(Frame f) throws IOException {
      int r = ch.read(control);
      if (r < 0) {
        throw new EOFException("connection closed by the peer");
      }
      if (control.hasRemaining()) {
        return false;
      }
      control.flip();
      f.read(control);
      if (f.type != Frame.ABORT) {
        throw new IOException("unexpected frame of type " + f.type + " on a shared-memory link's connection");
      }
      f.readReason(ch);
      return true;
    }

    public String transport() {
      return "shared-memory";
    }

    public void close() {
      segment.close();
    }
  }

  static final class Outbound extends Side implements Link.Outbound {

    private final Frame scratch = new Frame();
    private long produced;

    Outbound(Segment segment, SocketChannel ch, BooleanSupplier stopped) throws IOException {
      super(segment, ch, stopped);
    }

    @Override
    public void send(Frame f, float[] src, int start) throws IOException {
      for (int n = 0; produced - segment.consumed() >= segment.slots; ) {
        n = idle(n, scratch);
        if (n < 0) {
          throw new IOException("unexpected abort frame from the right neighbour: " + scratch.reason);
        }
      }
      long at = segment.slot(produced);
      f.write(memory, at);
      MemorySegment.copy(src, start, memory, FLOAT, at + PAYLOAD, f.floats);
      produced++;
      COUNTER.setRelease(memory, PRODUCED, produced);
    }

    @Override
    public void drain() throws IOException {
      for (int n = 0; segment.consumed() != produced; ) {
        n = idle(n, scratch);
        if (n < 0) {
          throw new IOException("unexpected abort frame from the right neighbour: " + scratch.reason);
        }
      }
    }
  }

  static final class Inbound extends Side implements Link.Inbound {

    private long consumed;
    private long at;

    Inbound(Segment segment, SocketChannel ch, BooleanSupplier stopped) throws IOException {
      super(segment, ch, stopped);
    }

    @Override
    public void next(Frame f) throws IOException {
      for (int n = 0; segment.produced() == consumed; ) {
        n = idle(n, f);
        if (n < 0) {
          return; // an abort frame, in f
        }
      }
      at = segment.slot(consumed);
      f.read(memory, at);
      if ((f.type != Frame.DATA && f.type != Frame.WHOLE) || f.floats < 0 || PAYLOAD + 4L * f.floats > segment.slotBytes) {
        throw new IOException("corrupt frame in shared-memory slot " + Math.floorMod(consumed, segment.slots)
            + " (type " + f.type + ", " + f.floats + " floats)");
      }
    }

    @Override
    public void payload(float[] dst, int offset, int floats) {
      MemorySegment.copy(memory, FLOAT, at + PAYLOAD, dst, offset, floats);
    }

    @Override
    public void release() {
      consumed++;
      COUNTER.setRelease(memory, CONSUMED, consumed);
    }
  }
}
