package io.bagpipe.slide.synth;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayOutputStream;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * Writes a pyramidal, tiled, JPEG-compressed classic TIFF that OpenSlide 3.4.1
 * opens as {@code generic-tiff}, in memory bounded by the slide's width.
 *
 * <p>Why it looks the way it does:
 *
 * <ul>
 *   <li><b>Streaming cascade.</b> Level 0 is asked from a {@link StripPainter} one
 *       strip of {@code tileSize} rows at a time. A full strip is cut into tiles,
 *       each JPEG-encoded and appended to the file at once; then the strip is box-
 *       filtered 2x2 into the next level's strip buffer, which flushes the same way
 *       when it holds {@code tileSize} rows (two strips below it), and so on up.
 *       Only one strip per level and the tile offset/byte-count tables stay in
 *       memory; the IFDs go at the end of the file and the header is patched to
 *       point at the first one.
 *   <li><b>OpenSlide 3.4.1.</b> The file is little-endian (3.4.1 misreads big-endian
 *       headers), levels below the first carry {@code NewSubfileType = 1} (else they
 *       are not seen as levels), and the pyramid goes on until a level fits in one
 *       tile. Each tile is a complete baseline JFIF stream from javax.imageio (Y at
 *       2x2, Cb/Cr at 1x1), so the IFD says {@code Photometric = YCbCr} and
 *       {@code YCbCrSubsampling = 2,2}, matching what is inside the tiles.
 *   <li><b>Determinism.</b> No timestamps, no software version: the same pixels and
 *       options give the same bytes.
 *   <li><b>Identical tiles are stored once</b> (glass background made of a periodic
 *       texture repeats exactly): the tile tables point several tiles at one copy,
 *       which TIFF allows, saving encode time and disk.
 * </ul>
 *
 * The file is written to {@code <name>.part} and renamed when complete. Classic
 * TIFF has 32-bit offsets: a slide that would pass 4 GiB is refused with an error.
 */
public final class PyramidalTiffWriter {

  /** Classic TIFF offsets are unsigned 32-bit. */
  static final long MAX_CLASSIC_TIFF_BYTES = 0xFFFF_FFFFL;

  private static final int SHORT = 3;
  private static final int LONG = 4;
  private static final int RATIONAL = 5;
  private static final int ASCII = 2;
  private static final int DEDUP_ENTRIES = 8;

  /** Size of one pyramid level. */
  public record LevelSize(int width, int height) {
    public LevelSize {
      if (width <= 0 || height <= 0) {
        throw new IllegalArgumentException("level size must be positive, got " + width + "x" + height);
      }
    }
  }

  /**
   * What was written.
   *
   * @param path the final file
   * @param bytes its size
   * @param levels level sizes, level 0 first
   * @param tiles tiles in the tables (all levels)
   * @param uniqueTiles tiles actually encoded and stored
   */
  public record WrittenTiff(Path path, long bytes, List<LevelSize> levels, int tiles, int uniqueTiles) {
    public WrittenTiff {
      levels = List.copyOf(levels);
    }
  }

  private final TiffOptions options;
  private final long maxBytes;
  /** Room kept for the IFDs at the end (tile tables plus fixed tags). */
  private final long ifdReserve;
  private final int tile;
  private final List<Level> levels = new ArrayList<>();
  private final ByteArrayOutputStream jpegBytes = new ByteArrayOutputStream(1 << 16);
  private final BufferedImage tileImage;
  private final byte[] tileBgr;
  private final ImageWriter jpeg;
  private final ImageWriteParam jpegParam;
  private final long[] dedupHash = new long[DEDUP_ENTRIES];
  private final byte[][] dedupPixels = new byte[DEDUP_ENTRIES][];
  private final long[] dedupOffset = new long[DEDUP_ENTRIES];
  private final long[] dedupCount = new long[DEDUP_ENTRIES];
  private int dedupNext;
  private int uniqueTiles;
  private FileChannel channel;
  private ByteBuffer out;
  private long position;
  private Path target;

  private PyramidalTiffWriter(int width, int height, TiffOptions options, long maxBytes) {
    this.options = options;
    this.maxBytes = maxBytes;
    this.tile = options.tileSize();
    int w = width;
    int h = height;
    while (true) {
      levels.add(new Level(levels.size(), w, h, tile));
      if (w <= tile && h <= tile) {
        break;
      }
      w = (w + 1) / 2;
      h = (h + 1) / 2;
    }
    long reserve = 2;
    for (Level l : levels) {
      reserve += 8L * l.offsets.length + 400 + options.description().length();
    }
    ifdReserve = reserve;
    tileImage = new BufferedImage(tile, tile, BufferedImage.TYPE_3BYTE_BGR);
    tileBgr = ((DataBufferByte) tileImage.getRaster().getDataBuffer()).getData();
    jpeg = ImageIO.getImageWritersByFormatName("jpeg").next();
    jpegParam = jpeg.getDefaultWriteParam();
    jpegParam.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
    jpegParam.setCompressionQuality(options.jpegQuality());
  }

  /** Level sizes the writer produces for a level-0 image of {@code width x height}. */
  public static List<LevelSize> levelSizes(int width, int height, int tileSize) {
    List<LevelSize> sizes = new ArrayList<>();
    int w = width;
    int h = height;
    while (true) {
      sizes.add(new LevelSize(w, h));
      if (w <= tileSize && h <= tileSize) {
        return sizes;
      }
      w = (w + 1) / 2;
      h = (h + 1) / 2;
    }
  }

  /**
   * Writes {@code target} from the pixels {@code painter} gives, replacing an
   * existing file only once the new one is complete.
   *
   * @throws IOException on a write failure or when the file would pass 4 GiB
   *     (the {@code .part} file is deleted then)
   */
  public static WrittenTiff write(Path target, int width, int height, TiffOptions options, StripPainter painter)
      throws IOException {
    return write(target, width, height, options, painter, MAX_CLASSIC_TIFF_BYTES);
  }

  /** {@link #write} with a lower size limit, so tests can reach it cheaply. */
  static WrittenTiff write(
      Path target, int width, int height, TiffOptions options, StripPainter painter, long maxBytes)
      throws IOException {
    if (width <= 0 || height <= 0) {
      throw new IllegalArgumentException("slide size must be positive, got " + width + "x" + height);
    }
    if ((long) width * 3 * options.tileSize() > Integer.MAX_VALUE - 64) {
      throw new IllegalArgumentException("slide width " + width + " is too large for one strip buffer");
    }
    PyramidalTiffWriter w = new PyramidalTiffWriter(width, height, options, maxBytes);
    try {
      return w.run(target, painter);
    } finally {
      w.jpeg.dispose();
    }
  }

  private WrittenTiff run(Path target, StripPainter painter) throws IOException {
    this.target = target;
    Path part = target.resolveSibling(target.getFileName() + ".part");
    Path parent = target.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    boolean done = false;
    try (FileChannel ch =
        FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
      channel = ch;
      out = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
      out.put((byte) 'I').put((byte) 'I').putShort((short) 42).putInt(0); // IFD offset patched below
      position = 8;
      Level level0 = levels.get(0);
      for (int y0 = 0; y0 < level0.height; y0 += tile) {
        int rows = Math.min(tile, level0.height - y0);
        painter.paint(y0, rows, level0.strip, level0.width);
        level0.filled = rows;
        flush(level0);
      }
      long firstIfd = writeIfds();
      drain();
      ByteBuffer header = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) firstIfd).flip();
      ch.write(header, 4);
      ch.force(true);
      done = true;
    } catch (UncheckedIOException e) {
      throw e.getCause();
    } finally {
      if (!done) {
        Files.deleteIfExists(part);
      }
    }
    Files.move(part, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    int tiles = levels.stream().mapToInt(l -> l.offsets.length).sum();
    List<LevelSize> sizes = levels.stream().map(l -> new LevelSize(l.width, l.height)).toList();
    return new WrittenTiff(target, Files.size(target), sizes, tiles, uniqueTiles);
  }

  /** Encodes the full (or last) strip of {@code level}, then pushes it down the pyramid. */
  private void flush(Level level) throws IOException {
    int rows = level.filled;
    int tileRow = level.rowsDone / tile;
    for (int tx = 0; tx < level.tilesAcross; tx++) {
      copyTile(level, tx, rows);
      int index = tileRow * level.tilesAcross + tx;
      storeTile(level, index);
    }
    level.rowsDone += rows;
    level.filled = 0;
    if (level.index + 1 < levels.size()) {
      Level next = levels.get(level.index + 1);
      next.filled += downsample(level, rows, next, next.filled);
      if (next.filled == tile || next.rowsDone + next.filled == next.height) {
        flush(next);
      }
    }
  }

  /** Copies tile {@code tx} of the strip into the BGR tile image, repeating edge pixels into the padding. */
  private void copyTile(Level level, int tx, int rows) {
    int x0 = tx * tile;
    int cols = Math.min(tile, level.width - x0);
    byte[] s = level.strip;
    int stride = level.width * 3;
    for (int y = 0; y < tile; y++) {
      int sy = Math.min(y, rows - 1);
      int si = sy * stride + x0 * 3;
      int di = y * tile * 3;
      for (int x = 0; x < cols; x++, si += 3, di += 3) {
        tileBgr[di] = s[si + 2];
        tileBgr[di + 1] = s[si + 1];
        tileBgr[di + 2] = s[si];
      }
      byte b = tileBgr[di - 3];
      byte g = tileBgr[di - 2];
      byte r = tileBgr[di - 1];
      for (int x = cols; x < tile; x++, di += 3) {
        tileBgr[di] = b;
        tileBgr[di + 1] = g;
        tileBgr[di + 2] = r;
      }
    }
  }

  private void storeTile(Level level, int index) throws IOException {
    long h = contentHash(tileBgr);
    for (int i = 0; i < DEDUP_ENTRIES; i++) {
      if (dedupPixels[i] != null && dedupHash[i] == h && Arrays.equals(dedupPixels[i], tileBgr)) {
        level.offsets[index] = dedupOffset[i];
        level.counts[index] = dedupCount[i];
        return;
      }
    }
    jpegBytes.reset();
    try (MemoryCacheImageOutputStream ios = new MemoryCacheImageOutputStream(jpegBytes)) {
      jpeg.setOutput(ios);
      jpeg.write(null, new IIOImage(tileImage, null, null), jpegParam);
    }
    byte[] bytes = jpegBytes.toByteArray();
    if (position + bytes.length > maxBytes - ifdReserve) {
      throw new IOException(
          target + ": the slide would pass 4 GiB, the limit of classic TIFF that OpenSlide 3.4.1 reads; "
              + "make it smaller (bagpipe.synth.width/height) or lower bagpipe.synth.jpeg-quality");
    }
    level.offsets[index] = position;
    level.counts[index] = bytes.length;
    append(bytes);
    uniqueTiles++;
    int slot = dedupNext;
    dedupNext = (dedupNext + 1) % DEDUP_ENTRIES;
    if (dedupPixels[slot] == null) {
      dedupPixels[slot] = new byte[tileBgr.length];
    }
    System.arraycopy(tileBgr, 0, dedupPixels[slot], 0, tileBgr.length);
    dedupHash[slot] = h;
    dedupOffset[slot] = level.offsets[index];
    dedupCount[slot] = bytes.length;
  }

  private static long contentHash(byte[] b) {
    long h = 0x9E3779B97F4A7C15L;
    ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    int n = b.length / 8;
    for (int i = 0; i < n; i++) {
      h = (h ^ bb.getLong(i * 8)) * 0xff51afd7ed558ccdL;
      h ^= h >>> 29;
    }
    return h;
  }

  /**
   * Box-filters {@code rows} rows of {@code src}'s strip into {@code dst}'s strip at
   * row {@code at}; odd edges average the last pixel with itself. Returns rows added.
   */
  private static int downsample(Level src, int rows, Level dst, int at) {
    int outRows = (rows + 1) / 2;
    int sw = src.width;
    int dw = dst.width;
    byte[] s = src.strip;
    byte[] d = dst.strip;
    for (int oy = 0; oy < outRows; oy++) {
      int r0 = (2 * oy) * sw * 3;
      int r1 = Math.min(2 * oy + 1, rows - 1) * sw * 3;
      int di = (at + oy) * dw * 3;
      for (int ox = 0; ox < dw; ox++) {
        int c0 = 2 * ox * 3;
        int c1 = Math.min(2 * ox + 1, sw - 1) * 3;
        for (int c = 0; c < 3; c++) {
          int sum = (s[r0 + c0 + c] & 0xff) + (s[r0 + c1 + c] & 0xff) + (s[r1 + c0 + c] & 0xff) + (s[r1 + c1 + c] & 0xff);
          d[di++] = (byte) ((sum + 2) >> 2);
        }
      }
    }
    return outRows;
  }

  private void append(byte[] bytes) throws IOException {
    int off = 0;
    while (off < bytes.length) {
      if (!out.hasRemaining()) {
        drain();
      }
      int n = Math.min(out.remaining(), bytes.length - off);
      out.put(bytes, off, n);
      off += n;
    }
    position += bytes.length;
  }

  private void drain() throws IOException {
    out.flip();
    while (out.hasRemaining()) {
      channel.write(out);
    }
    out.clear();
  }

  /** Appends one IFD per level, level 0 first, each linked to the next; returns the first's offset. */
  private long writeIfds() throws IOException {
    if ((position & 1) != 0) {
      append(new byte[1]);
    }
    long first = position;
    for (Level level : levels) {
      boolean last = level.index == levels.size() - 1;
      byte[] ifd = ifd(level, position, last);
      if (position + ifd.length > maxBytes) {
        throw new IOException(target + ": the slide would pass 4 GiB, the limit of classic TIFF");
      }
      append(ifd);
    }
    return first;
  }

  private byte[] ifd(Level level, long at, boolean last) {
    double downsample = (double) levels.get(0).width / level.width;
    double pixelsPerCm = 10_000.0 / (options.micronsPerPixel() * downsample);
    long[] resolution = rational(pixelsPerCm);
    byte[] description = (level.index == 0 ? options.description() : "").getBytes(StandardCharsets.US_ASCII);
    int n = level.offsets.length;
    List<long[]> entries = new ArrayList<>(); // tag, type, count, value-or-index into extras
    ByteBuffer extra = ByteBuffer.allocate(128 + description.length + 8 * n).order(ByteOrder.LITTLE_ENDIAN);
    int entryCount = level.index == 0 ? 18 : 17;
    long extraBase = at + 2 + 12L * entryCount + 4;
    entries.add(new long[] {254, LONG, 1, level.index == 0 ? 0 : 1});
    entries.add(new long[] {256, LONG, 1, level.width});
    entries.add(new long[] {257, LONG, 1, level.height});
    entries.add(new long[] {258, SHORT, 3, extraBase + extra.position()});
    extra.putShort((short) 8).putShort((short) 8).putShort((short) 8).putShort((short) 0);
    entries.add(new long[] {259, SHORT, 1, 7}); // JPEG
    entries.add(new long[] {262, SHORT, 1, 6}); // YCbCr
    if (level.index == 0) {
      entries.add(new long[] {270, ASCII, description.length + 1, extraBase + extra.position()});
      extra.put(description).put((byte) 0);
      if ((extra.position() & 1) != 0) {
        extra.put((byte) 0);
      }
    }
    entries.add(new long[] {277, SHORT, 1, 3});
    entries.add(new long[] {282, RATIONAL, 1, extraBase + extra.position()});
    extra.putInt((int) resolution[0]).putInt((int) resolution[1]);
    entries.add(new long[] {283, RATIONAL, 1, extraBase + extra.position()});
    extra.putInt((int) resolution[0]).putInt((int) resolution[1]);
    entries.add(new long[] {284, SHORT, 1, 1}); // chunky
    entries.add(new long[] {296, SHORT, 1, 3}); // centimetre
    entries.add(new long[] {322, LONG, 1, tile});
    entries.add(new long[] {323, LONG, 1, tile});
    if (n == 1) {
      entries.add(new long[] {324, LONG, 1, level.offsets[0]});
      entries.add(new long[] {325, LONG, 1, level.counts[0]});
    } else {
      entries.add(new long[] {324, LONG, n, extraBase + extra.position()});
      for (long o : level.offsets) {
        extra.putInt((int) o);
      }
      entries.add(new long[] {325, LONG, n, extraBase + extra.position()});
      for (long c : level.counts) {
        extra.putInt((int) c);
      }
    }
    entries.add(new long[] {530, SHORT, 2, 2 | (2 << 16)}); // YCbCrSubsampling 2,2 inline
    entries.add(new long[] {532, RATIONAL, 6, extraBase + extra.position()}); // ReferenceBlackWhite (JFIF)
    for (int v : new int[] {0, 255, 128, 255, 128, 255}) {
      extra.putInt(v).putInt(1);
    }
    if (entries.size() != entryCount) {
      throw new IllegalStateException("IFD entry count " + entries.size() + " != " + entryCount);
    }
    ByteBuffer b = ByteBuffer.allocate(2 + 12 * entryCount + 4 + extra.position()).order(ByteOrder.LITTLE_ENDIAN);
    b.putShort((short) entryCount);
    for (long[] e : entries) {
      b.putShort((short) e[0]).putShort((short) e[1]).putInt((int) e[2]);
      if (e[1] == SHORT && e[2] == 1) {
        b.putShort((short) e[3]).putShort((short) 0);
      } else {
        b.putInt((int) e[3]);
      }
    }
    long next = last ? 0 : at + b.capacity();
    b.putInt((int) next);
    b.put(extra.flip());
    return b.array();
  }

  /** {@code value} as numerator/denominator that fit in unsigned 32 bits. */
  private static long[] rational(double value) {
    long den = 1000;
    while (value * den > 0xFFFF_FFFFL && den > 1) {
      den /= 10;
    }
    return new long[] {Math.min(0xFFFF_FFFFL, Math.round(value * den)), den};
  }

  /** One pyramid level: its strip buffer and tile tables. */
  private static final class Level {
    final int index;
    final int width;
    final int height;
    final int tilesAcross;
    final byte[] strip;
    final long[] offsets;
    final long[] counts;
    int filled;
    int rowsDone;

    Level(int index, int width, int height, int tile) {
      this.index = index;
      this.width = width;
      this.height = height;
      this.tilesAcross = (width + tile - 1) / tile;
      int tilesDown = (height + tile - 1) / tile;
      this.strip = new byte[width * 3 * tile];
      this.offsets = new long[tilesAcross * tilesDown];
      this.counts = new long[tilesAcross * tilesDown];
    }
  }
}
