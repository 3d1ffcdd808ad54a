package io.bagpipe.slide;

import io.bagpipe.slide.ffm.JpegTileDecoder;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads regions of a {@code generic-tiff} slide straight from its JPEG tiles,
 * without OpenSlide: the TIFF's directories are parsed once at open, each
 * OpenSlide level is matched to the one tiled directory of its size, and a region
 * is assembled from the rectangles it covers in up to four (or more) tiles, each
 * decoded by {@link JpegTileDecoder} cropped to the iMCUs it needs.
 *
 * <p>A region is left to OpenSlide ({@link #read} returns false) whenever the two
 * could differ: its level-0 origin does not fall on a whole pixel of the level
 * (OpenSlide would resample), it reaches outside the image (OpenSlide paints
 * transparent pixels there), a tile it needs is missing, or a tile's JPEG is not
 * what the TIFF tags promise. The first such fallback of a slide is logged at
 * debug level.
 */
final class DirectJpegReader implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(DirectJpegReader.class);

  private static final int COMPRESSION_JPEG = 7;
  private static final int PHOTOMETRIC_RGB = 2;
  private static final int PHOTOMETRIC_YCBCR = 6;

  private final Path path;
  private volatile FileChannel file;
  private volatile boolean closed;
  /** Per OpenSlide level, the matching directory, or null when that level goes through OpenSlide. */
  private final TiffLayout.Directory[] levels;
  private final double[] downsamples;
  private final AtomicBoolean fallbackLogged = new AtomicBoolean();
  private final LongAdder direct = new LongAdder();
  private final LongAdder fallbacks = new LongAdder();
  private volatile String lastFallback;

  private DirectJpegReader(Path path, FileChannel file, TiffLayout.Directory[] levels, double[] downsamples) {
    this.path = path;
    this.file = file;
    this.levels = levels;
    this.downsamples = downsamples;
  }

  /**
   * A reader for the slide at {@code path}, or null (with the reason logged at
   * debug level) when the slide does not qualify: libturbojpeg is missing, the
   * vendor is not {@code generic-tiff}, the TIFF cannot be parsed, or no level is a
   * tiled 8-bit 3-sample chunky JPEG with YCbCr or RGB photometry.
   */
  static DirectJpegReader open(Path path, String vendor, List<Level> slideLevels) {
    if (!JpegTileDecoder.available()) {
      log.debug("{}: read through OpenSlide: {}", path, JpegTileDecoder.unavailableReason());
      return null;
    }
    if (!"generic-tiff".equals(vendor)) {
      log.debug("{}: read through OpenSlide: vendor {} is not generic-tiff", path, vendor);
      return null;
    }
    FileChannel ch = null;
    try {
      ch = FileChannel.open(path, StandardOpenOption.READ);
      TiffLayout layout = TiffLayout.read(path, ch);
      TiffLayout.Directory[] match = new TiffLayout.Directory[slideLevels.size()];
      double[] ds = new double[slideLevels.size()];
      StringBuilder why = new StringBuilder();
      int usable = 0;
      for (Level l : slideLevels) {
        ds[l.index()] = l.downsample();
        TiffLayout.Directory found = null;
        int same = 0;
        for (TiffLayout.Directory d : layout.directories()) {
          if (d.tiled() && d.width() == l.width() && d.height() == l.height()) {
            found = d;
            same++;
          }
        }
        String reason = same == 0 ? "no tiled directory of its size"
            : same > 1 ? same + " tiled directories of its size"
            : unsuitable(found);
        if (reason == null) {
          match[l.index()] = found;
          usable++;
        } else {
          why.append(" level ").append(l.index()).append(": ").append(reason).append(';');
        }
      }
      if (usable == 0) {
        log.debug("{}: read through OpenSlide:{}", path, why);
        ch.close();
        return null;
      }
      if (!why.isEmpty()) {
        log.debug("{}: some levels read through OpenSlide:{}", path, why);
      }
      return new DirectJpegReader(path, ch, match, ds);
    } catch (IOException | RuntimeException e) {
      log.debug("{}: read through OpenSlide: {}", path, e.getMessage());
      if (ch != null) {
        try {
          ch.close();
        } catch (IOException ignored) {
          // the open failed already; nothing more to report
        }
      }
      return null;
    }
  }

  /** Why a directory's tiles cannot be decoded here, or null when they can. */
  private static String unsuitable(TiffLayout.Directory d) {
    if (d.compression() != COMPRESSION_JPEG) {
      return "compression " + d.compression() + " is not JPEG (7)";
    }
    if (d.photometric() != PHOTOMETRIC_YCBCR && d.photometric() != PHOTOMETRIC_RGB) {
      return "photometric " + d.photometric() + " is neither RGB nor YCbCr";
    }
    if (d.samplesPerPixel() != 3 || d.bitsPerSample() != 8 || d.planarConfig() != 1) {
      return d.samplesPerPixel() + " samples of " + d.bitsPerSample() + " bits, planar " + d.planarConfig();
    }
    long tiles = d.tilesAcross() * d.tilesDown();
    if (d.tileOffsets().length < tiles || d.tileByteCounts().length < tiles) {
      return "fewer tile offsets than tiles";
    }
    if (d.tileWidth() % 16 != 0 || d.tileHeight() % 16 != 0) {
      return "tile size " + d.tileWidth() + "x" + d.tileHeight() + " is not a multiple of 16";
    }
    return null;
  }

  /**
   * Reads the region as {@link Slide#readRegion} does, into {@code dest} at its
   * position, and advances the position. Returns false, with {@code dest}'s
   * position unchanged, when this region must be read through OpenSlide.
   *
   * @throws IOException when the file cannot be read
   */
  boolean read(int level, long x, long y, int w, int h, ByteBuffer dest) throws IOException {
    TiffLayout.Directory d = levels[level];
    if (d == null) {
      return fallback("level " + level + " is not decoded directly");
    }
    double ds = downsamples[level];
    // OpenSlide divides the level-0 origin by the downsample; a fraction would be resampled.
    double fx = x / ds;
    double fy = y / ds;
    if (fx != Math.rint(fx) || fy != Math.rint(fy)) {
      return fallback("origin (" + x + "," + y + ") is not a whole pixel of level " + level);
    }
    long lx = (long) fx;
    long ly = (long) fy;
    if (lx < 0 || ly < 0 || lx + w > d.width() || ly + h > d.height()) {
      return fallback("region reaches outside level " + level);
    }
    int tw = d.tileWidth();
    int th = d.tileHeight();
    long across = d.tilesAcross();
    long col0 = lx / tw;
    long col1 = (lx + w - 1) / tw;
    long row0 = ly / th;
    long row1 = (ly + h - 1) / th;
    for (long row = row0; row <= row1; row++) {
      for (long col = col0; col <= col1; col++) {
        int t = (int) (row * across + col);
        if (d.tileByteCounts()[t] <= 0 || d.tileOffsets()[t] <= 0) {
          return fallback("tile " + col + "," + row + " of level " + level + " is missing");
        }
      }
    }
    int stride = w * 3;
    for (long row = row0; row <= row1; row++) {
      long ty = row * th;
      int ry0 = (int) (Math.max(ly, ty) - ty);
      int ry1 = (int) (Math.min(ly + h, ty + th) - ty);
      for (long col = col0; col <= col1; col++) {
        long tx = col * tw;
        int rx0 = (int) (Math.max(lx, tx) - tx);
        int rx1 = (int) (Math.min(lx + w, tx + tw) - tx);
        int t = (int) (row * across + col);
        int destOffset = (int) ((ty + ry0 - ly) * stride + (tx + rx0 - lx) * 3);
        String err = JpegTileDecoder.decode(
            channel(), d.jpegTables(), d.tileOffsets()[t], d.tileByteCounts()[t], tw, th,
            d.photometric() == PHOTOMETRIC_YCBCR, rx0, ry0, rx1 - rx0, ry1 - ry0, dest, destOffset, stride);
        if (err != null) {
          return fallback("tile " + col + "," + row + " of level " + level + ": " + err);
        }
      }
    }
    dest.position(dest.position() + stride * h);
    direct.increment();
    return true;
  }

  /**
   * The open channel. A thread interrupted inside a read closes a FileChannel for
   * every thread; the reader then opens the file again rather than failing reads.
   */
  private FileChannel channel() throws IOException {
    FileChannel ch = file;
    if (ch.isOpen() || closed) {
      return ch;
    }
    synchronized (this) {
      if (!file.isOpen() && !closed) {
        file = FileChannel.open(path, StandardOpenOption.READ);
      }
      return file;
    }
  }

  private boolean fallback(String why) {
    fallbacks.increment();
    lastFallback = why;
    if (fallbackLogged.compareAndSet(false, true)) {
      log.debug("{}: a region read through OpenSlide (logged once per slide): {}", path, why);
    }
    return false;
  }

  /** Regions decoded here so far. */
  long directReads() {
    return direct.sum();
  }

  /** Why the latest region was left to OpenSlide, or null. */
  String lastFallback() {
    return lastFallback;
  }

  /** Regions left to OpenSlide so far. */
  long fallbackReads() {
    return fallbacks.sum();
  }

  @Override
  public void close() {
    closed = true;
    try {
      file.close();
    } catch (IOException e) {
      log.debug("{}: closing the tile reader: {}", path, e.getMessage());
    }
  }
}
