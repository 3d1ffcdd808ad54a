package io.bagpipe.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The single-file checkpoint format, version 1. All numbers are little-endian.
 *
 * <pre>
 *  offset  size  content
 *  0       8     magic "BAGPCKPT"
 *  8       4     format version (1)
 *  12      4     header length H
 *  16      H     header: u32 length + run state as UTF-8 "key=value" lines
 *                        u32 tensor count, then per tensor:
 *                          u8 group (0 parameter, 1 optimizer state), u32 length + UTF-8 name,
 *                          u32 rank, rank x i64 dimensions, i64 absolute offset of its data
 *  ...           zero padding to a multiple of 64 bytes
 *  ...           tensor data: product(shape) float32 values per tensor, in table order
 *  L       16    footer: i64 L (the footer's own offset), u32 CRC32C of bytes [0, L), "CEND"
 * </pre>
 *
 * <p>The run state is text so that {@code head -c 1000 file.ckpt} shows where a run
 * stands. In the state lines {@code \}, newline, carriage return and {@code =} are
 * escaped with a backslash ({@code \\ \n \r \=}); extras are written as
 * {@code extra.<key>=<value>}; doubles use {@link Double#toString} (exact, NaN as "NaN").
 *
 * <p>The footer comes last so that a file cut short anywhere lacks it; the CRC covers
 * everything before it, so a damaged byte anywhere is caught before any of the file
 * is believed. Reading checks magic, then version (so an unknown version is reported
 * as such, not as damage), then footer and checksum, and only then parses.
 */
final class CheckpointFile {

  static final int VERSION = 1;
  private static final byte[] MAGIC = "BAGPCKPT".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] FOOTER_MAGIC = "CEND".getBytes(StandardCharsets.US_ASCII);
  private static final int PREAMBLE = 16;
  private static final int FOOTER = 16;
  private static final int ALIGN = 64;
  private static final int CHUNK = 1 << 20;

  private static final String EPOCH = "epoch";
  private static final String STEP = "step";
  private static final String GLOBAL_STEP = "global-step";
  private static final String SEED = "seed";
  private static final String BEST_METRIC = "best-metric";
  private static final String BEST_VALUE = "best-value";
  private static final String BEST_EPOCH = "best-epoch";
  private static final String EXTRA = "extra.";

  private CheckpointFile() {}

  /** Writes {@code c} to the open, empty {@code channel}; does not force it. */
  static void write(FileChannel channel, Checkpoint c) throws IOException {
    List<NamedTensor> tensors = new ArrayList<>(c.parameters());
    tensors.addAll(c.optimizerState());
    byte[] state = stateText(c.state()).getBytes(StandardCharsets.UTF_8);
    byte[][] names = new byte[tensors.size()][];
    long headerLength = 4L + state.length + 4;
    for (int i = 0; i < tensors.size(); i++) {
      names[i] = tensors.get(i).name().getBytes(StandardCharsets.UTF_8);
      headerLength += 1 + 4 + names[i].length + 4 + 8L * tensors.get(i).shape().length + 8;
    }
    long dataStart = align(PREAMBLE + headerLength);
    if (dataStart > Integer.MAX_VALUE) {
      throw new IOException("checkpoint header too large: " + headerLength + " bytes");
    }
    ByteBuffer head = ByteBuffer.allocate((int) dataStart).order(ByteOrder.LITTLE_ENDIAN);
    head.put(MAGIC).putInt(VERSION).putInt((int) headerLength);
    head.putInt(state.length).put(state).putInt(tensors.size());
    long offset = dataStart;
    for (int i = 0; i < tensors.size(); i++) {
      NamedTensor t = tensors.get(i);
      head.put((byte) (i < c.parameters().size() ? 0 : 1)).putInt(names[i].length).put(names[i]).putInt(t.shape().length);
      for (long d : t.shape()) {
        head.putLong(d);
      }
      head.putLong(offset);
      offset += 4L * t.size();
    }
    head.position(head.capacity()).flip(); // the rest is zero padding

    CRC32C crc = new CRC32C();
    writeFully(channel, head, crc);
    ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
    for (NamedTensor t : tensors) {
      float[] data = t.data();
      for (int from = 0; from < data.length; from += CHUNK / 4) {
        int n = Math.min(CHUNK / 4, data.length - from);
        chunk.clear();
        chunk.asFloatBuffer().put(data, from, n);
        chunk.limit(4 * n);
        writeFully(channel, chunk, crc);
      }
    }
    ByteBuffer footer = ByteBuffer.allocate(FOOTER).order(ByteOrder.LITTLE_ENDIAN);
    footer.putLong(offset).putInt((int) crc.getValue()).put(FOOTER_MAGIC).flip();
    writeFully(channel, footer, null);
  }

  /** Reads and verifies the checkpoint in {@code file}. */
  static Checkpoint read(Path file) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = channel.size();
      if (size < PREAMBLE + FOOTER) {
        throw new CheckpointException.Corrupt(file, "only " + size + " bytes; the write was cut short");
      }
      ByteBuffer preamble = readAt(channel, 0, PREAMBLE, file);
      byte[] magic = new byte[MAGIC.length];
      preamble.get(magic);
      if (!java.util.Arrays.equals(magic, MAGIC)) {
        throw new CheckpointException.Corrupt(file, "not a Bagpipe checkpoint (bad magic)");
      }
      int version = preamble.getInt();
      if (version != VERSION) {
        throw new CheckpointException.Unsupported(file, version, VERSION);
      }
      int headerLength = preamble.getInt();

      ByteBuffer footer = readAt(channel, size - FOOTER, FOOTER, file);
      long footerOffset = footer.getLong();
      int storedCrc = footer.getInt();
      byte[] end = new byte[FOOTER_MAGIC.length];
      footer.get(end);
      if (footerOffset != size - FOOTER || !java.util.Arrays.equals(end, FOOTER_MAGIC)) {
        throw new CheckpointException.Corrupt(file, "no valid footer at the end of its " + size
            + " bytes; the file was truncated or its write was cut short");
      }
      int crc = checksum(channel, footerOffset);
      if (crc != storedCrc) {
        throw new CheckpointException.Corrupt(file, String.format(
            "checksum mismatch (stored CRC32C %08x, computed %08x); the file was damaged", storedCrc, crc));
      }
      if (headerLength < 8 || PREAMBLE + (long) headerLength > footerOffset) {
        throw new CheckpointException.Corrupt(file, "header length " + headerLength + " does not fit the file");
      }
      return parse(channel, readAt(channel, PREAMBLE, headerLength, file), PREAMBLE + headerLength, footerOffset, file);
    }
  }

  private static Checkpoint parse(FileChannel channel, ByteBuffer header, long dataStart, long dataEnd, Path file)
      throws IOException {
    try {
      RunState state = parseState(new String(bytes(header, header.getInt()), StandardCharsets.UTF_8), file);
      int count = header.getInt();
      if (count < 0) {
        throw new CheckpointException.Corrupt(file, "negative tensor count " + count);
      }
      List<NamedTensor> parameters = new ArrayList<>();
      List<NamedTensor> optimizer = new ArrayList<>();
      ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
      // Tensors lie back to back in table order, as write() lays them out: a table whose
      // entries overlap (or leave gaps) could make a small file ask for many times its size.
      long next = align(dataStart); // write() pads the header to an aligned start
      for (int i = 0; i < count; i++) {
        byte group = header.get();
        String name = new String(bytes(header, header.getInt()), StandardCharsets.UTF_8);
        int rank = header.getInt();
        if (group != 0 && group != 1 || rank < 0 || rank > header.remaining() / 8) {
          throw new CheckpointException.Corrupt(file, "bad table entry for tensor " + name);
        }
        long[] shape = new long[rank];
        long elements = 1;
        for (int d = 0; d < rank; d++) {
          shape[d] = header.getLong();
          elements = shape[d] < 0 ? -1 : Math.multiplyExact(elements, shape[d]);
        }
        long offset = header.getLong();
        if (elements < 0 || elements > Integer.MAX_VALUE || offset < dataStart || offset + 4 * elements > dataEnd) {
          throw new CheckpointException.Corrupt(file, "tensor " + name + " of shape " + java.util.Arrays.toString(shape)
              + " at offset " + offset + " does not fit the file");
        }
        if (offset != next) {
          throw new CheckpointException.Corrupt(file, "tensor " + name + " starts at offset " + offset + " where the"
              + " previous one ends at " + next + ": tensors must follow each other without overlap");
        }
        next = offset + 4 * elements;
        float[] data = new float[(int) elements];
        long position = offset;
        for (int from = 0; from < data.length; from += CHUNK / 4) {
          int n = Math.min(CHUNK / 4, data.length - from);
          chunk.clear().limit(4 * n);
          readFully(channel, chunk, position, file);
          chunk.flip();
          chunk.asFloatBuffer().get(data, from, n);
          position += 4L * n;
        }
        (group == 0 ? parameters : optimizer).add(new NamedTensor(name, shape, data));
      }
      if (next != dataEnd) {
        throw new CheckpointException.Corrupt(file, "its tensors end at offset " + next + " but its data at " + dataEnd);
      }
      return new Checkpoint(state, parameters, optimizer);
    } catch (java.nio.BufferUnderflowException | ArithmeticException | IllegalArgumentException e) {
      throw new CheckpointException.Corrupt(file, "malformed header: " + e);
    }
  }

  static String stateText(RunState s) {
    StringBuilder b = new StringBuilder();
    line(b, EPOCH, Integer.toString(s.epoch()));
    line(b, STEP, Long.toString(s.step()));
    line(b, GLOBAL_STEP, Long.toString(s.globalStep()));
    line(b, SEED, Long.toString(s.seed()));
    line(b, BEST_METRIC, s.bestMetric());
    line(b, BEST_VALUE, Double.toString(s.bestValue()));
    line(b, BEST_EPOCH, Integer.toString(s.bestEpoch()));
    s.extras().forEach((k, v) -> line(b, EXTRA + k, v));
    return b.toString();
  }

  static RunState parseState(String text, Path file) throws CheckpointException {
    Map<String, String> values = new LinkedHashMap<>();
    Map<String, String> extras = new LinkedHashMap<>();
    for (String line : text.split("\n", -1)) {
      if (line.isEmpty()) {
        continue;
      }
      int eq = unescapedEquals(line);
      if (eq < 0) {
        throw new CheckpointException.Corrupt(file, "run state line without '=': " + line);
      }
      String key = unescape(line.substring(0, eq), file);
      String value = unescape(line.substring(eq + 1), file);
      if (key.startsWith(EXTRA)) {
        extras.put(key.substring(EXTRA.length()), value);
      } else if (values.put(key, value) != null) {
        throw new CheckpointException.Corrupt(file, "run state key " + key + " appears twice");
      }
    }
    try {
      RunState state = new RunState(
          Integer.parseInt(required(values, EPOCH, file)),
          Long.parseLong(required(values, STEP, file)),
          Long.parseLong(required(values, GLOBAL_STEP, file)),
          Long.parseLong(required(values, SEED, file)),
          required(values, BEST_METRIC, file),
          Double.parseDouble(required(values, BEST_VALUE, file)),
          Integer.parseInt(required(values, BEST_EPOCH, file)),
          extras);
      if (!values.isEmpty()) {
        throw new CheckpointException.Corrupt(file, "unknown run state keys " + values.keySet());
      }
      return state;
    } catch (IllegalArgumentException e) {
      throw new CheckpointException.Corrupt(file, "bad run state: " + e.getMessage());
    }
  }

  private static String required(Map<String, String> values, String key, Path file) throws CheckpointException {
    String v = values.remove(key);
    if (v == null) {
      throw new CheckpointException.Corrupt(file, "run state lacks " + key);
    }
    return v;
  }

  private static void line(StringBuilder b, String key, String value) {
    escape(b, key);
    b.append('=');
    escape(b, value);
    b.append('\n');
  }

  private static void escape(StringBuilder b, String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '=' -> b.append("\\=");
        default -> b.append(c);
      }
    }
  }

  private static int unescapedEquals(String line) {
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (c == '\\') {
        i++;
      } else if (c == '=') {
        return i;
      }
    }
    return -1;
  }

  private static String unescape(String s, Path file) throws CheckpointException {
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c != '\\') {
        b.append(c);
        continue;
      }
      if (++i == s.length()) {
        throw new CheckpointException.Corrupt(file, "run state line ends in a lone backslash: " + s);
      }
      switch (s.charAt(i)) {
        case '\\' -> b.append('\\');
        case 'n' -> b.append('\n');
        case 'r' -> b.append('\r');
        case '=' -> b.append('=');
        default -> throw new CheckpointException.Corrupt(file, "unknown escape \\" + s.charAt(i) + " in run state: " + s);
      }
    }
    return b.toString();
  }

  private static long align(long n) {
    return (n + ALIGN - 1) / ALIGN * ALIGN;
  }

  private static byte[] bytes(ByteBuffer b, int n) {
    if (n < 0 || n > b.remaining()) {
      throw new IllegalArgumentException("length " + n + " exceeds the header");
    }
    byte[] out = new byte[n];
    b.get(out);
    return out;
  }

  private static int checksum(FileChannel channel, long length) throws IOException {
    CRC32C crc = new CRC32C();
    ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);
    long position = 0;
    while (position < length) {
      chunk.clear().limit((int) Math.min(CHUNK, length - position));
      int n = channel.read(chunk, position);
      if (n < 0) {
        break;
      }
      position += n;
      chunk.flip();
      crc.update(chunk);
    }
    return (int) crc.getValue();
  }

  private static ByteBuffer readAt(FileChannel channel, long position, int length, Path file) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
    readFully(channel, b, position, file);
    return b.flip();
  }

  private static void readFully(FileChannel channel, ByteBuffer b, long position, Path file) throws IOException {
    while (b.hasRemaining()) {
      int n = channel.read(b, position);
      if (n < 0) {
        throw new CheckpointException.Corrupt(file, "ends early at byte " + position);
      }
      position += n;
    }
  }

  private static void writeFully(FileChannel channel, ByteBuffer b, CRC32C crc) throws IOException {
    if (crc != null) {
      crc.update(b.duplicate());
    }
    while (b.hasRemaining()) {
      channel.write(b);
    }
  }
}
