package io.bagpipe.features;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Bagpipe's per-slide feature file ({@code <slide_id>.bpf}), written by {@code bagpipe features}
 * one chunk of patches at a time and read a few rows at a time, so neither side holds a slide's
 * N x D features in memory. Little-endian throughout:
 *
 * <pre>
 *   8 bytes   magic "BPFEAT01"
 *   int64     N, rows (patches)
 *   int32     D, features per row
 *   int32     M, bytes of metadata
 *   M bytes   metadata, UTF-8 "key=value" lines (encoder identity, patch size, level or
 *             target mpp, normalisation; see docs/features.md)
 *   N x 2     int32 coords: level-0 x, y of each patch's top-left corner
 *   N x D     float32 features, row i belonging to coords row i
 * </pre>
 *
 * A writer fills {@code <name>.part} and renames it to its name only when every row is written
 * and forced to disk, so a file under its final name is complete; {@link #open} still checks
 * that the length matches the header. Why not HDF5: jhdf 0.9.4 writes a dataset from one
 * in-memory array, which for 100k patches of 1024-d features is 400 MB.
 */
public final class FeatureFile {

  /** The extension of Bagpipe's feature files. */
  public static final String EXTENSION = ".bpf";

  static final byte[] MAGIC = "BPFEAT01".getBytes(StandardCharsets.US_ASCII);

  private FeatureFile() {}

  /** Header bytes before the coordinates. */
  static long headerBytes(int metaBytes) {
    return MAGIC.length + 8 + 4 + 4 + (long) metaBytes;
  }

  /**
   * Starts writing {@code file} (through {@code file.part}) for patches at {@code coords}
   * (interleaved x,y) with {@code dim} features each.
   */
  public static Writer create(Path file, int[] coords, int dim, Map<String, String> metadata) throws IOException {
    return new Writer(file, coords, dim, metadata);
  }

  /** Writes one slide's features; rows are appended in coordinate order. Not thread-safe. */
  public static final class Writer implements AutoCloseable {
    private final Path file;
    private final Path part;
    private final FileChannel channel;
    private final long rows;
    private final int dim;
    private long written;
    private boolean finished;

    private Writer(Path file, int[] coords, int dim, Map<String, String> metadata) throws IOException {
      if (coords.length == 0 || coords.length % 2 != 0 || dim < 1) {
        throw new IllegalArgumentException("a feature file needs x,y pairs and D >= 1, got " + coords.length
            + " values and D = " + dim);
      }
      this.file = file;
      this.part = file.resolveSibling(file.getFileName() + ".part");
      this.rows = coords.length / 2;
      this.dim = dim;
      StringBuilder meta = new StringBuilder();
      for (Map.Entry<String, String> e : metadata.entrySet()) {
        if (e.getKey().contains("=") || e.getKey().contains("\n") || e.getValue().contains("\n")) {
          throw new IllegalArgumentException("bad feature file metadata " + e.getKey() + "=" + e.getValue());
        }
        meta.append(e.getKey()).append('=').append(e.getValue()).append('\n');
      }
      byte[] m = meta.toString().getBytes(StandardCharsets.UTF_8);
      channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
          StandardOpenOption.WRITE);
      try {
        ByteBuffer head = ByteBuffer.allocate((int) headerBytes(m.length)).order(ByteOrder.LITTLE_ENDIAN);
        head.put(MAGIC).putLong(rows).putInt(dim).putInt(m.length).put(m).flip();
        writeFully(head);
        ByteBuffer xy = ByteBuffer.allocate(64 * 1024).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : coords) {
          if (!xy.hasRemaining()) {
            writeFully(xy.flip());
            xy.clear();
          }
          xy.putInt(v);
        }
        writeFully(xy.flip());
      } catch (IOException | RuntimeException e) {
        channel.close();
        Files.deleteIfExists(part);
        throw e;
      }
    }

    /** Appends {@code n} rows of features from {@code features} (row-major, at least n x D floats). */
    public void append(float[] features, int n) throws IOException {
      if (written + n > rows) {
        throw new IllegalStateException(file + ": " + (written + n) + " rows written, the file has " + rows);
      }
      ByteBuffer b = ByteBuffer.allocate(n * dim * 4).order(ByteOrder.LITTLE_ENDIAN);
      b.asFloatBuffer().put(features, 0, n * dim);
      writeFully(b);
      written += n;
    }

    /** Rows appended so far. */
    public long written() {
      return written;
    }

    /** Forces the rows to disk and renames the file to its name; fails unless every row was written. */
    public void finish() throws IOException {
      if (written != rows) {
        throw new IllegalStateException(file + ": only " + written + " of " + rows + " rows written");
      }
      channel.force(true);
      channel.close();
      Files.move(part, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      finished = true;
    }

    private void writeFully(ByteBuffer b) throws IOException {
      while (b.hasRemaining()) {
        channel.write(b);
      }
    }

    /** Closes; an unfinished file's {@code .part} is deleted. */
    @Override
    public void close() throws IOException {
      if (!finished) {
        channel.close();
        Files.deleteIfExists(part);
      }
    }
  }

  /**
   * Opens a complete feature file's header (the rows themselves are read on demand).
   *
   * @throws FeatureFileException naming the file when it is not a whole Bagpipe feature file
   */
  public static Header open(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer head = ByteBuffer.allocate(MAGIC.length + 16).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, head, 0, file);
      head.flip();
      byte[] magic = new byte[MAGIC.length];
      head.get(magic);
      if (!Arrays.equals(magic, MAGIC)) {
        throw new FeatureFileException(file, "not a Bagpipe feature file (no BPFEAT01 magic)");
      }
      long rows = head.getLong();
      int dim = head.getInt();
      int metaBytes = head.getInt();
      if (rows < 1 || rows > Integer.MAX_VALUE || dim < 1 || metaBytes < 0 || metaBytes > 1 << 20) {
        throw new FeatureFileException(file, "bad header: " + rows + " rows, D = " + dim + ", " + metaBytes
            + " bytes of metadata");
      }
      long expected = headerBytes(metaBytes) + rows * 8 + rows * dim * 4L;
      if (ch.size() != expected) {
        throw new FeatureFileException(file, "is " + ch.size() + " bytes, its header (" + rows + " rows of " + dim
            + " features) needs " + expected + "; the file is truncated or corrupt: delete it and run"
            + " bagpipe features again");
      }
      ByteBuffer m = ByteBuffer.allocate(metaBytes);
      readFully(ch, m, MAGIC.length + 16, file);
      Map<String, String> meta = new LinkedHashMap<>();
      for (String line : new String(m.array(), StandardCharsets.UTF_8).split("\n")) {
        int eq = line.indexOf('=');
        if (eq > 0) {
          meta.put(line.substring(0, eq), line.substring(eq + 1));
        }
      }
      return new Header(file, (int) rows, dim, meta, headerBytes(metaBytes));
    } catch (IOException e) {
      throw new FeatureFileException(file, "cannot be read: " + e.getMessage());
    }
  }

  static void readFully(FileChannel ch, ByteBuffer b, long position, Path file) throws IOException {
    long p = position;
    while (b.hasRemaining()) {
      int r = ch.read(b, p);
      if (r < 0) {
        throw new FeatureFileException(file, "ends early, at byte " + p);
      }
      p += r;
    }
  }

  /**
   * A feature file's header.
   *
   * @param file the file
   * @param rows N, the patches
   * @param dim D, features per patch
   * @param metadata the key=value metadata, in file order
   * @param coordsOffset where the coordinates start
   */
  public record Header(Path file, int rows, int dim, Map<String, String> metadata, long coordsOffset) {
    public Header {
      Objects.requireNonNull(file, "file");
      metadata = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /** Where the features start. */
    public long featuresOffset() {
      return coordsOffset + rows * 8L;
    }

    /** The coordinates, interleaved x,y (8 bytes per patch: 800 kB for 100k patches). */
    public int[] coordinates() {
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
        ByteBuffer b = ByteBuffer.allocate(rows * 8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, b, coordsOffset, file);
        int[] xy = new int[rows * 2];
        b.flip().asIntBuffer().get(xy);
        return xy;
      } catch (IOException e) {
        throw new UncheckedIOException(file + ": cannot read its coordinates", e);
      }
    }
  }
}
