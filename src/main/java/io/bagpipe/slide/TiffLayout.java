package io.bagpipe.slide;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The image file directories (IFDs) of a TIFF or BigTIFF file, little- or
 * big-endian, with the tags a tiled reader needs. Tile offsets and byte counts
 * are held as arrays per directory (16 bytes a tile), for as long as the slide
 * is open.
 */
final class TiffLayout {

  /** One directory; absent tags are 0 or null. */
  record Directory(
      int index,
      long width,
      long height,
      int tileWidth,
      int tileHeight,
      int compression,
      int photometric,
      int samplesPerPixel,
      int bitsPerSample,
      int planarConfig,
      int[] ycbcrSubsampling,
      byte[] jpegTables,
      long[] tileOffsets,
      long[] tileByteCounts) {

    boolean tiled() {
      return tileWidth > 0 && tileHeight > 0 && tileOffsets != null && tileByteCounts != null;
    }

    long tilesAcross() {
      return (width + tileWidth - 1) / tileWidth;
    }

    long tilesDown() {
      return (height + tileHeight - 1) / tileHeight;
    }
  }

  private static final int MAX_DIRECTORIES = 4096;
  private static final long MAX_TILES = 4L << 20;
  private static final int MAX_TABLES = 1 << 20;

  private final List<Directory> directories;

  private TiffLayout(List<Directory> directories) {
    this.directories = List.copyOf(directories);
  }

  List<Directory> directories() {
    return directories;
  }

  /**
   * Reads every directory of {@code path} through {@code ch}.
   *
   * @throws IOException naming the file and what is wrong when it is not a TIFF
   *     this reader understands
   */
  static TiffLayout read(Path path, FileChannel ch) throws IOException {
    ByteBuffer hdr = readAt(path, ch, 0, 16, false);
    ByteOrder order;
    int b0 = hdr.get(0) & 0xFF;
    int b1 = hdr.get(1) & 0xFF;
    if (b0 == 'I' && b1 == 'I') {
      order = ByteOrder.LITTLE_ENDIAN;
    } else if (b0 == 'M' && b1 == 'M') {
      order = ByteOrder.BIG_ENDIAN;
    } else {
      throw new IOException(path + " is not a TIFF (no II/MM byte order mark)");
    }
    hdr.order(order);
    int magic = hdr.getShort(2) & 0xFFFF;
    boolean big;
    long next;
    if (magic == 42) {
      big = false;
      next = hdr.getInt(4) & 0xFFFFFFFFL;
    } else if (magic == 43) {
      big = true;
      if ((hdr.getShort(4) & 0xFFFF) != 8) {
        throw new IOException(path + ": BigTIFF offset size " + hdr.getShort(4) + " is not 8");
      }
      next = hdr.getLong(8);
    } else {
      throw new IOException(path + ": TIFF magic " + magic + " is neither 42 nor 43");
    }
    Reader r = new Reader(path, ch, order, big);
    List<Directory> dirs = new ArrayList<>();
    Set<Long> seen = new HashSet<>();
    while (next != 0) {
      if (!seen.add(next) || dirs.size() >= MAX_DIRECTORIES) {
        throw new IOException(path + ": the directory chain loops or exceeds " + MAX_DIRECTORIES + " directories");
      }
      long[] link = new long[1];
      dirs.add(r.directory(dirs.size(), next, link));
      next = link[0];
    }
    return new TiffLayout(dirs);
  }

  private static ByteBuffer readAt(Path path, FileChannel ch, long pos, int n, boolean exact) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    long p = pos;
    while (b.hasRemaining()) {
      int got = ch.read(b, p);
      if (got < 0) {
        if (exact || b.position() < 8) {
          throw new IOException(path + ": truncated at byte " + p + " (needed " + n + " bytes at " + pos + ")");
        }
        break;
      }
      p += got;
    }
    return b.flip();
  }

  /** Reads one directory's entries, resolving values stored elsewhere in the file. */
  private static final class Reader {
    private final Path path;
    private final FileChannel ch;
    private final ByteOrder order;
    private final boolean big;

    Reader(Path path, FileChannel ch, ByteOrder order, boolean big) {
      this.path = path;
      this.ch = ch;
      this.order = order;
      this.big = big;
    }

    Directory directory(int index, long at, long[] next) throws IOException {
      int countSize = big ? 8 : 2;
      int entrySize = big ? 20 : 12;
      ByteBuffer cb = readAt(path, ch, at, countSize, true).order(order);
      long count = big ? cb.getLong(0) : cb.getShort(0) & 0xFFFF;
      if (count < 0 || count > 10_000) {
        throw new IOException(path + ": directory " + index + " at byte " + at + " claims " + count + " entries");
      }
      int bytes = (int) (count * entrySize) + (big ? 8 : 4);
      ByteBuffer e = readAt(path, ch, at + countSize, bytes, true).order(order);
      long width = 0;
      long height = 0;
      int tileWidth = 0;
      int tileHeight = 0;
      int compression = 1;
      int photometric = -1;
      int spp = 1;
      int bps = 1;
      int planar = 1;
      int[] subsampling = null;
      byte[] tables = null;
      long[] offsets = null;
      long[] counts = null;
      for (int i = 0; i < count; i++) {
        int base = i * entrySize;
        int tag = e.getShort(base) & 0xFFFF;
        int type = e.getShort(base + 2) & 0xFFFF;
        long n = big ? e.getLong(base + 4) : e.getInt(base + 4) & 0xFFFFFFFFL;
        int valueAt = base + (big ? 12 : 8);
        switch (tag) {
          case 256 -> width = scalar(e, valueAt, type, n, tag, index);
          case 257 -> height = scalar(e, valueAt, type, n, tag, index);
          case 258 -> bps = (int) values(e, valueAt, type, n, tag, index, 16)[0];
          case 259 -> compression = (int) scalar(e, valueAt, type, n, tag, index);
          case 262 -> photometric = (int) scalar(e, valueAt, type, n, tag, index);
          case 277 -> spp = (int) scalar(e, valueAt, type, n, tag, index);
          case 284 -> planar = (int) scalar(e, valueAt, type, n, tag, index);
          case 322 -> tileWidth = (int) Math.min(Integer.MAX_VALUE, scalar(e, valueAt, type, n, tag, index));
          case 323 -> tileHeight = (int) Math.min(Integer.MAX_VALUE, scalar(e, valueAt, type, n, tag, index));
          case 324 -> offsets = values(e, valueAt, type, n, tag, index, MAX_TILES);
          case 325 -> counts = values(e, valueAt, type, n, tag, index, MAX_TILES);
          case 347 -> tables = bytes(e, valueAt, type, n, tag, index);
          case 530 -> {
            long[] v = values(e, valueAt, type, n, tag, index, 2);
            subsampling = v.length == 2 ? new int[] {(int) v[0], (int) v[1]} : null;
          }
          default -> { }
        }
      }
      next[0] = big ? e.getLong((int) (count * entrySize)) : e.getInt((int) (count * entrySize)) & 0xFFFFFFFFL;
      return new Directory(index, width, height, tileWidth, tileHeight, compression, photometric, spp, bps, planar,
          subsampling, tables, offsets, counts);
    }

    private static int typeSize(int type) {
      return switch (type) {
        case 1, 2, 6, 7 -> 1;
        case 3, 8 -> 2;
        case 4, 9, 11, 13 -> 4;
        case 5, 10, 12, 16, 17, 18 -> 8;
        default -> 0;
      };
    }

    private long scalar(ByteBuffer e, int valueAt, int type, long n, int tag, int index) throws IOException {
      if (n != 1) {
        throw new IOException(path + ": directory " + index + " tag " + tag + " has " + n + " values, expected 1");
      }
      return values(e, valueAt, type, n, tag, index, 1)[0];
    }

    private long[] values(ByteBuffer e, int valueAt, int type, long n, int tag, int index, long max)
        throws IOException {
      if (type != 1 && type != 3 && type != 4 && type != 16 && type != 13 && type != 18) {
        throw new IOException(path + ": directory " + index + " tag " + tag + " has type " + type
            + ", expected an unsigned integer");
      }
      if (n < 1 || n > max) {
        throw new IOException(path + ": directory " + index + " tag " + tag + " has " + n + " values");
      }
      int size = typeSize(type);
      ByteBuffer src = inlineOrRemote(e, valueAt, size * n, tag, index);
      long[] out = new long[(int) n];
      for (int i = 0; i < n; i++) {
        out[i] = switch (size) {
          case 1 -> src.get(i) & 0xFFL;
          case 2 -> src.getShort(i * 2) & 0xFFFFL;
          case 4 -> src.getInt(i * 4) & 0xFFFFFFFFL;
          default -> src.getLong(i * 8);
        };
      }
      return out;
    }

    private byte[] bytes(ByteBuffer e, int valueAt, int type, long n, int tag, int index) throws IOException {
      if (typeSize(type) != 1 || n < 1 || n > MAX_TABLES) {
        throw new IOException(path + ": directory " + index + " tag " + tag + " has type " + type + " and "
            + n + " values, expected bytes");
      }
      ByteBuffer src = inlineOrRemote(e, valueAt, n, tag, index);
      byte[] out = new byte[(int) n];
      src.get(0, out);
      return out;
    }

    private ByteBuffer inlineOrRemote(ByteBuffer e, int valueAt, long bytes, int tag, int index) throws IOException {
      int inline = big ? 8 : 4;
      if (bytes <= inline) {
        return e.slice(valueAt, inline).order(order);
      }
      long at = big ? e.getLong(valueAt) : e.getInt(valueAt) & 0xFFFFFFFFL;
      if (at < 0 || at + bytes > ch.size()) {
        throw new IOException(path + ": directory " + index + " tag " + tag + " points past the end of the file");
      }
      return readAt(path, ch, at, (int) bytes, true).order(order);
    }
  }
}
