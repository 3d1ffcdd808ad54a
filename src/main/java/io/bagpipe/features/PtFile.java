package io.bagpipe.features;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A feature matrix saved by {@code torch.save}: CLAM's {@code pt_files/<slide_id>.pt} (an N x D
 * tensor) or a dict with an N x D {@code 'features'} tensor and optionally N x 2 {@code 'coords'}.
 *
 * <p>The file is a ZIP archive: {@code <archive>/data.pkl} (a pickle read by {@link TorchPickle},
 * which runs no code), {@code <archive>/data/<key>} (each storage's raw little-endian elements,
 * stored uncompressed), {@code <archive>/byteorder} (optional, {@code little}) and
 * {@code <archive>/version}. Opening reads the ZIP's central directory and {@code data.pkl} only;
 * the feature storage is memory-mapped and {@link #read} copies just the rows asked for, so a 400 MB
 * file costs its bag's rows in the heap. Float32, float16, bfloat16 and float64 are read (as
 * float32); a tensor that is not row-major (a transpose saved as it is) is read through its strides.
 * Not thread-safe.
 */
final class PtFile implements AutoCloseable {

  private static final int EOCD = 0x06054b50;
  private static final int ZIP64_LOCATOR = 0x07064b50;
  private static final int ZIP64_EOCD = 0x06064b50;
  private static final int CENTRAL = 0x02014b50;
  private static final int LOCAL = 0x04034b50;
  private static final int MAX_PICKLE = 16 << 20;

  private final Path file;
  private final Arena arena;
  private final View features;
  private final View coords; // null when the file has none

  /** A 2-D tensor over its mapped storage. */
  private record View(TorchPickle.DType dtype, MemorySegment data, long offset, long rows, long cols, long rowStride,
      long colStride) {

    double get(long r, long c) {
      long at = (offset + r * rowStride + c * colStride) * dtype.bytes;
      return switch (dtype) {
        case FLOAT -> data.get(F32, at);
        case DOUBLE -> data.get(F64, at);
        case HALF -> Float.float16ToFloat(data.get(I16, at));
        case BFLOAT16 -> Float.intBitsToFloat((data.get(I16, at) & 0xffff) << 16);
        case LONG -> data.get(I64, at);
        case INT -> data.get(I32, at);
      };
    }

    boolean rowMajorFloat32() {
      return dtype == TorchPickle.DType.FLOAT && (colStride == 1 || cols == 1);
    }
  }

  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private PtFile(Path file, Arena arena, View features, View coords) {
    this.file = file;
    this.arena = arena;
    this.features = features;
    this.coords = coords;
  }

  /** One ZIP entry: where its bytes start in the file, how many, and whether they are deflated. */
  private record Entry(String name, int method, long crc, long compressed, long size, long localHeader) {}

  /**
   * Opens a {@code torch.save} file: checks the archive, runs its pickle, maps the storages.
   *
   * @throws FeatureFileException naming the file and what is wrong: not a ZIP (or the legacy
   *     pre-1.6 format), truncated, a deflated storage, big-endian, an unknown opcode or global, not
   *     an N x D float tensor, a storage shorter than the tensor needs
   */
  static PtFile open(Path file) {
    Arena arena = Arena.ofShared();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long length = ch.size();
      byte[] head = read(file, ch, 0, (int) Math.min(length, 4));
      if (head.length >= 2 && (head[0] & 0xff) == 0x80) {
        throw new FeatureFileException(file, "written by torch.save in the legacy format (a bare pickle:"
            + " _use_new_zipfile_serialization=False, or PyTorch before 1.6), which is not read; re-save it as a"
            + " ZIP with: torch.save(torch.load('" + file.getFileName() + "'), '" + file.getFileName() + "')");
      }
      if (head.length < 4 || ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt() != LOCAL) {
        throw new FeatureFileException(file, "not a torch.save ZIP archive (it does not start with PK\\3\\4);"
            + " a .pt feature file is what torch.save(features_tensor, path) writes");
      }
      Map<String, Entry> entries = directory(file, ch, length);
      String pkl = null;
      for (String name : entries.keySet()) {
        if (name.endsWith("/data.pkl") && name.indexOf('/') == name.length() - 9) {
          if (pkl != null) {
            throw new FeatureFileException(file, "holds two pickles, " + pkl + " and " + name);
          }
          pkl = name;
        }
      }
      if (pkl == null) {
        throw new FeatureFileException(file, "a ZIP without <archive>/data.pkl: not written by torch.save (entries: "
            + String.join(", ", entries.keySet().stream().limit(8).toList()) + ")");
      }
      String archive = pkl.substring(0, pkl.length() - "data.pkl".length());
      Entry order = entries.get(archive + "byteorder");
      if (order != null) {
        String bo = new String(bytes(file, ch, order, 16), StandardCharsets.US_ASCII).trim();
        if (!bo.equals("little")) {
          throw new FeatureFileException(file, archive + "byteorder is '" + bo + "'; only little-endian storages"
              + " are read");
        }
      }
      Object root = TorchPickle.load(file, bytes(file, ch, entries.get(pkl), MAX_PICKLE));
      TorchPickle.Tensor f;
      TorchPickle.Tensor c = null;
      if (root instanceof TorchPickle.Tensor t) {
        f = t;
      } else if (root instanceof Map<?, ?> m) {
        if (!(m.get("features") instanceof TorchPickle.Tensor t)) {
          throw new FeatureFileException(file, "holds a dict without a 'features' tensor (keys: "
              + String.join(", ", m.keySet().stream().map(String::valueOf).toList()) + ")");
        }
        f = t;
        Object xy = m.get("coords");
        if (xy != null && !(xy instanceof TorchPickle.Tensor)) {
          throw new FeatureFileException(file, "its dict's 'coords' is not a tensor");
        }
        c = (TorchPickle.Tensor) xy;
      } else {
        throw new FeatureFileException(file, "holds " + (root == null ? "None" : root.getClass().getSimpleName())
            + ", expected an N x D tensor or a dict with a 'features' tensor");
      }
      Map<String, MemorySegment> mapped = new HashMap<>();
      View features = view(file, ch, arena, entries, archive, mapped, f, "the features tensor");
      if (!features.dtype().floating()) {
        throw new FeatureFileException(file, "the features tensor holds " + features.dtype().name().toLowerCase()
            + ", expected float32, float16, bfloat16 or float64");
      }
      View coords = null;
      if (c != null) {
        coords = view(file, ch, arena, entries, archive, mapped, c, "'coords'");
        if (coords.rows() != features.rows() || coords.cols() != 2) {
          throw new FeatureFileException(file, "'coords' is " + coords.rows() + " x " + coords.cols() + " but the"
              + " features have " + features.rows() + " rows: expected " + features.rows() + " x 2");
        }
      }
      return new PtFile(file, arena, features, coords);
    } catch (IOException e) {
      arena.close();
      throw new FeatureFileException(file, "cannot be read: " + e.getMessage());
    } catch (RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  private static View view(Path file, FileChannel ch, Arena arena, Map<String, Entry> entries, String archive,
      Map<String, MemorySegment> mapped, TorchPickle.Tensor t, String what) throws IOException {
    if (t.size().length != 2) {
      String hint = t.size().length == 3 && t.size()[0] == 1 ? "; squeeze it: torch.save(t[0], path)" : "";
      throw new FeatureFileException(file, what + " has " + t.size().length + " dimensions "
          + Arrays.toString(t.size()) + ", expected 2 (N x D)" + hint);
    }
    long rows = t.size()[0];
    long cols = t.size()[1];
    if (rows < 1 || cols < 1 || cols > Integer.MAX_VALUE / 8 || rows > Integer.MAX_VALUE) {
      throw new FeatureFileException(file, what + " is " + rows + " x " + cols + "; expected at least one row and"
          + " column");
    }
    TorchPickle.Storage s = t.storage();
    Entry e = entries.get(archive + "data/" + s.key());
    if (e == null) {
      throw new FeatureFileException(file, what + "'s storage " + archive + "data/" + s.key() + " is missing");
    }
    if (e.method() != 0) {
      throw new FeatureFileException(file, "storage " + e.name() + " is compressed (ZIP method " + e.method()
          + "); only stored entries are memory-mapped: re-save with torch.save, which stores them");
    }
    long bytes = Math.multiplyExact(s.numel(), (long) s.dtype().bytes);
    if (e.size() != bytes) {
      throw new FeatureFileException(file, "storage " + e.name() + " holds " + e.size() + " bytes, but the pickle"
          + " says " + s.numel() + " " + s.dtype().name().toLowerCase() + " elements (" + bytes + " bytes)");
    }
    long last = t.offset() + (rows - 1) * t.stride()[0] + (cols - 1) * t.stride()[1];
    if (last >= s.numel()) {
      throw new FeatureFileException(file, what + " (offset " + t.offset() + ", size " + Arrays.toString(t.size())
          + ", stride " + Arrays.toString(t.stride()) + ") reaches element " + last + " of a storage of "
          + s.numel());
    }
    MemorySegment data = mapped.get(e.name());
    if (data == null) {
      long start = dataStart(file, ch, e);
      if (start + bytes > ch.size()) {
        throw new FeatureFileException(file, "truncated: storage " + e.name() + " ends at byte " + (start + bytes)
            + ", the file has " + ch.size());
      }
      data = bytes == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, start, bytes, arena);
      mapped.put(e.name(), data);
    }
    return new View(s.dtype(), data, t.offset(), rows, cols, t.stride()[0], t.stride()[1]);
  }

  /** N. */
  int rows() {
    return (int) features.rows();
  }

  /** D. */
  int dim() {
    return (int) features.cols();
  }

  /** The element type of the features: float32, float16, bfloat16 or float64. */
  String dtype() {
    return switch (features.dtype()) {
      case FLOAT -> "float32";
      case HALF -> "float16";
      case BFLOAT16 -> "bfloat16";
      case DOUBLE -> "float64";
      default -> throw new IllegalStateException(features.dtype().name());
    };
  }

  /** Whether the file holds a {@code 'coords'} tensor. */
  boolean hasCoordinates() {
    return coords != null;
  }

  /** The {@code 'coords'} rows, x and y interleaved. */
  int[] coordinates() {
    if (coords == null) {
      throw new IllegalStateException(file + " holds no 'coords'");
    }
    int n = (int) coords.rows();
    int[] xy = new int[2 * n];
    for (int r = 0; r < n; r++) {
      for (int k = 0; k < 2; k++) {
        double v = coords.get(r, k);
        if (v != Math.rint(v) || Math.abs(v) > Integer.MAX_VALUE) {
          throw new FeatureFileException(file, "'coords' row " + r + " holds " + v + ", not an int");
        }
        xy[2 * r + k] = (int) v;
      }
    }
    return xy;
  }

  /** Copies feature row {@code r} as D native-order float32 into {@code out} from its position. */
  void readRow(int r, ByteBuffer out) {
    long d = features.cols();
    if (features.rowMajorFloat32() && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
      long at = (features.offset() + r * features.rowStride()) * 4;
      MemorySegment.copy(features.data(), at, MemorySegment.ofBuffer(out), 0, d * 4);
      return;
    }
    int base = out.position();
    ByteBuffer o = out.duplicate().order(ByteOrder.nativeOrder());
    for (int k = 0; k < d; k++) {
      o.putFloat(base + k * 4, (float) features.get(r, k));
    }
  }

  @Override
  public void close() {
    arena.close();
  }

  // ZIP reading: the end record, the central directory, a local header's length.

  private static Map<String, Entry> directory(Path file, FileChannel ch, long length) throws IOException {
    int tail = (int) Math.min(length, 22 + 65535);
    ByteBuffer t = ByteBuffer.wrap(read(file, ch, length - tail, tail)).order(ByteOrder.LITTLE_ENDIAN);
    int eocd = -1;
    for (int i = tail - 22; i >= 0; i--) {
      if (t.getInt(i) == EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      throw new FeatureFileException(file, "truncated: no ZIP end-of-central-directory record (the file was cut"
          + " short while being written or copied)");
    }
    long count = t.getShort(eocd + 10) & 0xffff;
    long cdSize = t.getInt(eocd + 12) & 0xffffffffL;
    long cdOffset = t.getInt(eocd + 16) & 0xffffffffL;
    if ((count == 0xffff || cdSize == 0xffffffffL || cdOffset == 0xffffffffL) && eocd >= 20
        && t.getInt(eocd - 20) == ZIP64_LOCATOR) {
      long at = t.getLong(eocd - 20 + 8);
      ByteBuffer z = ByteBuffer.wrap(read(file, ch, at, 56)).order(ByteOrder.LITTLE_ENDIAN);
      if (z.getInt(0) != ZIP64_EOCD) {
        throw new FeatureFileException(file, "corrupt ZIP64 end record at byte " + at);
      }
      count = z.getLong(32);
      cdSize = z.getLong(40);
      cdOffset = z.getLong(48);
    }
    if (cdOffset + cdSize > length || cdSize > Integer.MAX_VALUE || count > 1_000_000) {
      throw new FeatureFileException(file, "truncated or corrupt: the ZIP directory (" + cdSize + " bytes at "
          + cdOffset + ", " + count + " entries) does not fit a file of " + length + " bytes");
    }
    ByteBuffer cd = ByteBuffer.wrap(read(file, ch, cdOffset, (int) cdSize)).order(ByteOrder.LITTLE_ENDIAN);
    Map<String, Entry> entries = new HashMap<>();
    int p = 0;
    for (long i = 0; i < count; i++) {
      if (p + 46 > cd.limit() || cd.getInt(p) != CENTRAL) {
        throw new FeatureFileException(file, "corrupt ZIP directory at entry " + i);
      }
      int method = cd.getShort(p + 10) & 0xffff;
      long crc = cd.getInt(p + 16) & 0xffffffffL;
      long compressed = cd.getInt(p + 20) & 0xffffffffL;
      long size = cd.getInt(p + 24) & 0xffffffffL;
      int nameLen = cd.getShort(p + 28) & 0xffff;
      int extraLen = cd.getShort(p + 30) & 0xffff;
      int commentLen = cd.getShort(p + 32) & 0xffff;
      long local = cd.getInt(p + 42) & 0xffffffffL;
      if (p + 46 + nameLen + extraLen + commentLen > cd.limit()) {
        throw new FeatureFileException(file, "corrupt ZIP directory at entry " + i);
      }
      String name = new String(cd.array(), p + 46, nameLen, StandardCharsets.UTF_8);
      // ZIP64 extra field: the 8-byte values that the 32-bit fields above left at 0xffffffff, in order
      int x = p + 46 + nameLen;
      int xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        int id = cd.getShort(x) & 0xffff;
        int len = cd.getShort(x + 2) & 0xffff;
        if (id == 1) {
          int q = x + 4;
          if (size == 0xffffffffL && q + 8 <= x + 4 + len) {
            size = cd.getLong(q);
            q += 8;
          }
          if (compressed == 0xffffffffL && q + 8 <= x + 4 + len) {
            compressed = cd.getLong(q);
            q += 8;
          }
          if (local == 0xffffffffL && q + 8 <= x + 4 + len) {
            local = cd.getLong(q);
          }
        }
        x += 4 + len;
      }
      entries.put(name, new Entry(name, method, crc, compressed, size, local));
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  private static long dataStart(Path file, FileChannel ch, Entry e) throws IOException {
    ByteBuffer h = ByteBuffer.wrap(read(file, ch, e.localHeader(), 30)).order(ByteOrder.LITTLE_ENDIAN);
    if (h.getInt(0) != LOCAL) {
      throw new FeatureFileException(file, "corrupt ZIP: no local header for " + e.name() + " at byte "
          + e.localHeader());
    }
    return e.localHeader() + 30 + (h.getShort(26) & 0xffff) + (h.getShort(28) & 0xffff);
  }

  /** A small entry's bytes (stored or deflated), CRC-checked, refusing one larger than {@code max}. */
  private static byte[] bytes(Path file, FileChannel ch, Entry e, int max) throws IOException {
    byte[] b = unpacked(file, ch, e, max);
    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    crc.update(b);
    if (crc.getValue() != e.crc()) {
      throw new FeatureFileException(file, e.name() + " is corrupt: its CRC-32 is " + Long.toHexString(crc.getValue())
          + ", the ZIP directory says " + Long.toHexString(e.crc()));
    }
    return b;
  }

  private static byte[] unpacked(Path file, FileChannel ch, Entry e, int max) throws IOException {
    if (e.size() > max) {
      throw new FeatureFileException(file, e.name() + " is " + e.size() + " bytes; more than the " + max
          + " read for it");
    }
    long start = dataStart(file, ch, e);
    if (e.method() == 0) {
      return read(file, ch, start, (int) e.size());
    }
    if (e.method() != 8 || e.compressed() > max) {
      throw new FeatureFileException(file, e.name() + " uses ZIP method " + e.method() + ", not stored or deflated");
    }
    byte[] packed = read(file, ch, start, (int) e.compressed());
    Inflater inflater = new Inflater(true);
    try {
      inflater.setInput(packed);
      byte[] out = new byte[(int) e.size()];
      int n = inflater.inflate(out);
      if (n != out.length) {
        throw new FeatureFileException(file, e.name() + " inflates to " + n + " bytes, its header says " + out.length);
      }
      return out;
    } catch (DataFormatException ex) {
      throw new FeatureFileException(file, e.name() + " is corrupt: " + ex.getMessage());
    } finally {
      inflater.end();
    }
  }

  private static byte[] read(Path file, FileChannel ch, long at, int n) throws IOException {
    if (at < 0 || at + n > ch.size()) {
      throw new FeatureFileException(file, "truncated: " + n + " bytes at " + at + " asked for, the file has "
          + ch.size());
    }
    ByteBuffer buf = ByteBuffer.allocate(n);
    FeatureFile.readFully(ch, buf, at, file);
    return buf.array();
  }
}
