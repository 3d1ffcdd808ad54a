package io.bagpipe.slide.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One {@code openslide_t} handle. Thread-safe for reads (OpenSlide locks inside);
 * the owner must not call {@link #close()} while a read is in progress, which
 * {@code io.bagpipe.slide.Slide} guarantees.
 *
 * <p>Region reads go through a per-thread ARGB scratch buffer in native memory
 * and are converted straight into the caller's {@link ByteBuffer} as packed RGB.
 */
public final class NativeSlide {

  private static final ValueLayout.OfLong LONG_LE =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfInt INT_LE =
      ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfInt INT_NATIVE = JAVA_INT;

  /** Per-thread ARGB scratch, grown on demand and freed with its thread. */
  private static final ThreadLocal<MemorySegment[]> SCRATCH = ThreadLocal.withInitial(() -> new MemorySegment[1]);

  private final OpenSlideLibrary lib;
  private final MemorySegment handle;

  private NativeSlide(OpenSlideLibrary lib, MemorySegment handle) {
    this.lib = lib;
    this.handle = handle;
  }

  /** The linked OpenSlide's version string, e.g. "3.4.1". */
  public static String version() {
    OpenSlideLibrary lib = OpenSlideLibrary.get();
    try {
      return cString((MemorySegment) lib.version.invokeExact());
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** OpenSlide's vendor for the file, or null when OpenSlide does not recognise it. */
  public static String detectVendor(Path path) {
    OpenSlideLibrary lib = OpenSlideLibrary.get();
    try (Arena arena = Arena.ofConfined()) {
      return cString((MemorySegment) lib.detectVendor.invokeExact(arena.allocateFrom(path.toString())));
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * Opens {@code path}. Returns the handle, or throws {@link OpenFailure} with
   * OpenSlide's own message (or null when the format is not recognised).
   */
  public static NativeSlide open(Path path) throws OpenFailure {
    OpenSlideLibrary lib = OpenSlideLibrary.get();
    MemorySegment h;
    try (Arena arena = Arena.ofConfined()) {
      h = (MemorySegment) lib.open.invokeExact(arena.allocateFrom(path.toString()));
    } catch (Throwable t) {
      throw rethrow(t);
    }
    if (h.equals(MemorySegment.NULL)) {
      throw new OpenFailure(null);
    }
    NativeSlide slide = new NativeSlide(lib, h);
    String err = slide.error();
    if (err != null) {
      slide.close();
      throw new OpenFailure(err);
    }
    return slide;
  }

  /** Thrown by {@link #open}; {@code openSlideMessage} is null for an unrecognised format. */
  public static final class OpenFailure extends Exception {
    private final String openSlideMessage;

    OpenFailure(String openSlideMessage) {
      super(openSlideMessage == null ? "format not recognised by OpenSlide" : openSlideMessage);
      this.openSlideMessage = openSlideMessage;
    }

    /** OpenSlide's error text, or null when OpenSlide did not recognise the file. */
    public String openSlideMessage() {
      return openSlideMessage;
    }
  }

  /** OpenSlide's error for this handle, or null while it is healthy. */
  public String error() {
    try {
      return cString((MemorySegment) lib.getError.invokeExact(handle));
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public int levelCount() {
    try {
      return (int) lib.levelCount.invokeExact(handle);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** {width, height} of {@code level} in that level's pixels. */
  public long[] levelDimensions(int level) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment w = arena.allocate(JAVA_LONG);
      MemorySegment h = arena.allocate(JAVA_LONG);
      lib.levelDimensions.invokeExact(handle, level, w, h);
      return new long[] {w.get(JAVA_LONG, 0), h.get(JAVA_LONG, 0)};
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public double levelDownsample(int level) {
    try {
      return (double) lib.levelDownsample.invokeExact(handle, level);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  public int bestLevelForDownsample(double downsample) {
    try {
      return (int) lib.bestLevelForDownsample.invokeExact(handle, downsample);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** All properties, in OpenSlide's order. */
  public Map<String, String> properties() {
    Map<String, String> props = new LinkedHashMap<>();
    try {
      MemorySegment names = ((MemorySegment) lib.propertyNames.invokeExact(handle)).reinterpret(Long.MAX_VALUE);
      for (long i = 0; ; i++) {
        MemorySegment name = names.getAtIndex(ADDRESS, i);
        if (name.equals(MemorySegment.NULL)) {
          break;
        }
        MemorySegment value = (MemorySegment) lib.propertyValue.invokeExact(handle, name);
        props.put(cString(name), cString(value));
      }
    } catch (Throwable t) {
      throw rethrow(t);
    }
    return props;
  }

  /**
   * Reads a {@code w x h} region of {@code level} whose top-left corner is
   * ({@code x}, {@code y}) in level-0 pixels, and writes it as packed RGB
   * ({@code 3*w*h} bytes) into {@code dest} at its position, advancing it.
   * Fully transparent pixels (outside the image) become {@code background}
   * (0xRRGGBB); partly transparent ones are composited onto it.
   *
   * @return OpenSlide's error after the read, or null when it succeeded
   */
  public String readRegionRgb(long x, long y, int level, int w, int h, ByteBuffer dest, int background) {
    long pixels = (long) w * h;
    if (dest.remaining() < pixels * 3) {
      throw new IllegalArgumentException(
          "destination has " + dest.remaining() + " bytes left, region needs " + pixels * 3);
    }
    MemorySegment argb = scratch(pixels * 4);
    try {
      lib.readRegion.invokeExact(handle, argb, x, y, level, (long) w, (long) h);
    } catch (Throwable t) {
      throw rethrow(t);
    }
    String err = error();
    if (err != null) {
      return err;
    }
    MemorySegment out = MemorySegment.ofBuffer(dest);
    argbToRgb(argb, out, pixels, background);
    dest.position(dest.position() + (int) (pixels * 3));
    return null;
  }

  /**
   * Premultiplied native-endian ARGB to packed RGB. Opaque runs of four pixels
   * are packed as one long plus one int store (the common case on tissue);
   * other pixels take the exact path.
   */
  static void argbToRgb(MemorySegment argb, MemorySegment out, long pixels, int background) {
    long i = 0;
    long o = 0;
    long quads = pixels & ~3L;
    for (; i < quads; i += 4, o += 12) {
      int p0 = argb.get(INT_NATIVE, i * 4);
      int p1 = argb.get(INT_NATIVE, i * 4 + 4);
      int p2 = argb.get(INT_NATIVE, i * 4 + 8);
      int p3 = argb.get(INT_NATIVE, i * 4 + 12);
      if ((p0 & p1 & p2 & p3) >>> 24 == 0xFF) {
        long lo = rgb(p0) | ((long) rgb(p1) << 24) | ((long) (rgb(p2) & 0xFFFF) << 48);
        int hi = (rgb(p2) >>> 16) | (rgb(p3) << 8);
        out.set(LONG_LE, o, lo);
        out.set(INT_LE, o + 8, hi);
      } else {
        put(out, o, p0, background);
        put(out, o + 3, p1, background);
        put(out, o + 6, p2, background);
        put(out, o + 9, p3, background);
      }
    }
    for (; i < pixels; i++, o += 3) {
      put(out, o, argb.get(INT_NATIVE, i * 4), background);
    }
  }

  /** Opaque ARGB to little-endian packed bytes R,G,B in the low 24 bits. */
  private static int rgb(int p) {
    return ((p >>> 16) & 0xFF) | (p & 0xFF00) | ((p & 0xFF) << 16);
  }

  private static void put(MemorySegment out, long o, int p, int background) {
    int a = p >>> 24;
    int r = (p >>> 16) & 0xFF;
    int g = (p >>> 8) & 0xFF;
    int b = p & 0xFF;
    if (a == 0) {
      r = (background >>> 16) & 0xFF;
      g = (background >>> 8) & 0xFF;
      b = background & 0xFF;
    } else if (a != 0xFF) {
      int rest = 255 - a;
      r = r + (((background >>> 16) & 0xFF) * rest + 127) / 255;
      g = g + (((background >>> 8) & 0xFF) * rest + 127) / 255;
      b = b + ((background & 0xFF) * rest + 127) / 255;
    }
    out.set(JAVA_BYTE, o, (byte) r);
    out.set(JAVA_BYTE, o + 1, (byte) g);
    out.set(JAVA_BYTE, o + 2, (byte) b);
  }

  /** Closes the handle; the caller guarantees no read is in progress. */
  public void close() {
    try {
      lib.close.invokeExact(handle);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  private static MemorySegment scratch(long bytes) {
    MemorySegment[] holder = SCRATCH.get();
    if (holder[0] == null || holder[0].byteSize() < bytes) {
      holder[0] = Arena.ofAuto().allocate(bytes, 64);
    }
    return holder[0];
  }

  private static String cString(MemorySegment s) {
    if (s.equals(MemorySegment.NULL)) {
      return null;
    }
    return s.reinterpret(Long.MAX_VALUE).getString(0);
  }

  private static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) {
      throw r;
    }
    if (t instanceof Error e) {
      throw e;
    }
    throw new IllegalStateException("OpenSlide call failed", t);
  }
}
