package io.bagpipe.slide;

import io.bagpipe.slide.ffm.NativeSlide;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An open whole-slide image read through OpenSlide. Reads are thread-safe and
 * may run concurrently; {@link #close()} waits for reads in progress, and a
 * closed slide refuses further reads.
 *
 * <p>Region reads write packed RGB uint8 ({@code 3*w*h} bytes, row-major) into a
 * caller-owned buffer that can be reused for every read, so decoding a bag
 * allocates nothing. Pixels outside the image, and transparent pixels, take the
 * background colour given at open.
 */
public final class Slide implements AutoCloseable {

  private final Path path;
  private final NativeSlide handle;
  private final Rgb background;
  private final String vendor;
  private final List<Level> levels;
  private final Map<String, String> properties;
  /** Decodes JPEG tiles without OpenSlide, or null when every read goes through OpenSlide. */
  private final DirectJpegReader direct;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private boolean closed;

  private Slide(Path path, NativeSlide handle, Rgb background, SlideDecoder decoder) {
    this.path = path;
    this.handle = handle;
    this.background = background;
    this.properties = Map.copyOf(handle.properties());
    String v = properties.get("openslide.vendor");
    this.vendor = v != null ? v : NativeSlide.detectVendor(path);
    int n = handle.levelCount();
    List<Level> ls = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      long[] wh = handle.levelDimensions(i);
      ls.add(new Level(i, wh[0], wh[1], handle.levelDownsample(i)));
    }
    this.levels = List.copyOf(ls);
    this.direct = decoder == SlideDecoder.AUTO ? DirectJpegReader.open(path, vendor, levels) : null;
  }

  /**
   * Opens the slide at {@code path} as {@code bagpipe.slide} says: its background and its
   * {@code decoder}. Every command that reads pixels opens slides this way (or through a
   * {@link SlidePool}, which does), so they all decode alike.
   *
   * @throws SlideException as {@link #open(Path, Rgb, SlideDecoder)}
   */
  public static Slide open(Path path, SlideSettings settings) {
    return open(path, settings.background(), settings.decoder());
  }

  /**
   * Opens the slide at {@code path}, decoding as {@code decoder} says
   * ({@link SlideDecoder#AUTO}: JPEG tiles of generic TIFFs without OpenSlide).
   *
   * @throws SlideException naming the path when the file is missing, is not a
   *     slide OpenSlide recognises, or is corrupt (with OpenSlide's message)
   */
  public static Slide open(Path path, Rgb background, SlideDecoder decoder) {
    if (!Files.exists(path)) {
      throw new SlideException(path, SlideException.Reason.MISSING, "slide file not found: " + path);
    }
    if (!Files.isReadable(path)) {
      throw new SlideException(path, SlideException.Reason.MISSING, "slide file is not readable: " + path);
    }
    NativeSlide h;
    try {
      h = NativeSlide.open(path);
    } catch (NativeSlide.OpenFailure f) {
      if (f.openSlideMessage() == null) {
        throw new SlideException(
            path,
            SlideException.Reason.UNRECOGNISED,
            "not a slide OpenSlide " + NativeSlide.version() + " can read: " + path);
      }
      throw new SlideException(
          path, SlideException.Reason.CORRUPT, "cannot open slide " + path + ": " + f.openSlideMessage());
    }
    if (h.levelCount() < 1) {
      h.close();
      throw new SlideException(path, SlideException.Reason.CORRUPT, "slide " + path + " has no levels");
    }
    return new Slide(path, h, background, decoder);
  }

  public Path path() {
    return path;
  }

  /** OpenSlide's vendor name, e.g. {@code generic-tiff}, {@code aperio}. */
  public String vendor() {
    return vendor;
  }

  public int levelCount() {
    return levels.size();
  }

  public List<Level> levels() {
    return levels;
  }

  public Level level(int index) {
    if (index < 0 || index >= levels.size()) {
      throw new IllegalArgumentException(
          "level " + index + " out of range for " + path + " (" + levels.size() + " levels)");
    }
    return levels.get(index);
  }

  /** All OpenSlide properties ({@code openslide.*}, {@code tiff.*}, vendor keys). */
  public Map<String, String> properties() {
    return properties;
  }

  /** The background colour given to pixels outside the image. */
  public Rgb background() {
    return background;
  }

  /** Microns per pixel along x at level 0, when the slide says. */
  public OptionalDouble micronsPerPixelX() {
    return micronsPerPixel("openslide.mpp-x", "tiff.XResolution");
  }

  /** Microns per pixel along y at level 0, when the slide says. */
  public OptionalDouble micronsPerPixelY() {
    return micronsPerPixel("openslide.mpp-y", "tiff.YResolution");
  }

  /**
   * The coarsest level whose downsample is at most {@code downsample} (level 0 when
   * none is), as OpenSlide's {@code get_best_level_for_downsample} picks it.
   */
  public Level bestLevelForDownsample(double downsample) {
    Level best = levels.get(0);
    for (Level l : levels) {
      if (l.downsample() <= downsample * (1 + 1e-9)) {
        best = l;
      }
    }
    return best;
  }

  /**
   * Level-0 side of a patch of {@code patchSize} pixels at {@code targetMpp} microns per
   * pixel on a slide of {@code slideMpp}: {@code round(patchSize * targetMpp / slideMpp)}, at least 1.
   */
  public static long patchExtent(int patchSize, double targetMpp, double slideMpp) {
    return Math.max(1, Math.round(patchSize * targetMpp / slideMpp));
  }

  /**
   * {@code openslide.mpp-*} when present; otherwise derived from the TIFF
   * resolution tags when their unit is centimetre or inch (OpenSlide 3.4 does not
   * derive it for generic TIFFs).
   */
  private OptionalDouble micronsPerPixel(String mppKey, String resolutionKey) {
    OptionalDouble mpp = parse(properties.get(mppKey));
    if (mpp.isPresent()) {
      return mpp;
    }
    OptionalDouble res = parse(properties.get(resolutionKey));
    String unit = properties.get("tiff.ResolutionUnit");
    if (res.isEmpty() || res.getAsDouble() <= 0 || unit == null) {
      return OptionalDouble.empty();
    }
    return switch (unit) {
      case "centimeter" -> OptionalDouble.of(10_000.0 / res.getAsDouble());
      case "inch" -> OptionalDouble.of(25_400.0 / res.getAsDouble());
      default -> OptionalDouble.empty();
    };
  }

  private static OptionalDouble parse(String s) {
    if (s == null) {
      return OptionalDouble.empty();
    }
    try {
      double d = Double.parseDouble(s.trim());
      return d > 0 && Double.isFinite(d) ? OptionalDouble.of(d) : OptionalDouble.empty();
    } catch (NumberFormatException e) {
      return OptionalDouble.empty();
    }
  }

  /**
   * Reads the {@code width x height} region of {@code level} whose top-left
   * corner is ({@code x}, {@code y}) in level-0 coordinates, as packed RGB into
   * {@code dest} at its position (which advances by {@code 3*width*height}).
   *
   * @throws IllegalStateException when the slide is closed
   * @throws SlideException naming the slide and region when OpenSlide fails
   *     (the handle is then unusable; a pool discards it)
   */
  public void readRegion(int level, long x, long y, int width, int height, ByteBuffer dest) {
    if (width <= 0 || height <= 0) {
      throw new IllegalArgumentException("region size must be positive, got " + width + "x" + height);
    }
    if ((long) width * height > Integer.MAX_VALUE / 4) {
      throw new IllegalArgumentException("region " + width + "x" + height + " is too large for one read");
    }
    level(level);
    lock.readLock().lock();
    try {
      if (closed) {
        throw new IllegalStateException("slide " + path + " is closed");
      }
      if (direct != null && readDirect(level, x, y, width, height, dest)) {
        return;
      }
      String err = handle.readRegionRgb(x, y, level, width, height, dest, background.packed());
      if (err != null) {
        throw new SlideException(
            path,
            SlideException.Reason.CORRUPT,
            "cannot read region (" + x + "," + y + ") " + width + "x" + height + " at level " + level
                + " of " + path + ": " + err);
      }
    } finally {
      lock.readLock().unlock();
    }
  }

  private boolean readDirect(int level, long x, long y, int width, int height, ByteBuffer dest) {
    try {
      return direct.read(level, x, y, width, height, dest);
    } catch (IOException e) {
      throw new SlideException(
          path,
          SlideException.Reason.CORRUPT,
          "cannot read the tiles of region (" + x + "," + y + ") " + width + "x" + height + " at level " + level
              + " of " + path + ": " + e.getMessage());
    }
  }

  /**
   * Regions decoded from JPEG tiles without OpenSlide, and regions read through
   * OpenSlide although this slide is decoded directly, since open; both 0 when
   * every read goes through OpenSlide.
   */
  public long[] directReadCounts() {
    return direct == null ? new long[2] : new long[] {direct.directReads(), direct.fallbackReads()};
  }

  /** Why the latest region of this slide was read through OpenSlide although it decodes directly, or null. */
  public String lastFallback() {
    return direct == null ? null : direct.lastFallback();
  }

  /** Whether regions of this slide are decoded from its JPEG tiles (when they qualify). */
  public boolean decodesDirectly() {
    return direct != null;
  }

  /** Whether {@link #close()} has been called. */
  public boolean isClosed() {
    lock.readLock().lock();
    try {
      return closed;
    } finally {
      lock.readLock().unlock();
    }
  }

  /** Waits for reads in progress, then releases the OpenSlide handle. Idempotent. */
  @Override
  public void close() {
    lock.writeLock().lock();
    try {
      if (!closed) {
        closed = true;
        handle.close();
        if (direct != null) {
          direct.close();
        }
      }
    } finally {
      lock.writeLock().unlock();
    }
  }

  @Override
  public String toString() {
    return "Slide[" + path + ", " + vendor + ", " + levels.size() + " levels, "
        + levels.get(0).width() + "x" + levels.get(0).height() + "]";
  }
}
