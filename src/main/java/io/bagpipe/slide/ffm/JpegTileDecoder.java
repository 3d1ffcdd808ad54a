package io.bagpipe.slide.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Decodes a rectangle of one JPEG-compressed TIFF tile with libjpeg-turbo's
 * TurboJPEG API into packed RGB, without going through OpenSlide.
 *
 * <p>The tile's abbreviated stream is read from the file and spliced after the
 * TIFF's {@code JPEGTables} (tables without their EOI, tile without its SOI).
 * When the rectangle is a small part of the tile, {@code tjTransform} first crops
 * the tile losslessly in the DCT domain to the iMCUs that hold the rectangle, so
 * only those are dequantised, inverse-transformed and colour-converted; otherwise
 * the whole tile is decoded. Both decode with TurboJPEG's defaults, which are
 * libjpeg's and OpenSlide's: the accurate integer IDCT and fancy (smooth) chroma
 * upsampling. A crop of a chroma-subsampled tile keeps one MCU of margin on every
 * side that is inside the tile, so upsampling sees the same neighbouring chroma
 * samples as in a whole-tile decode; on 4:4:4 tiles no margin is needed. Pixels
 * are therefore the ones a whole-tile decode gives.
 *
 * <p>Every call that meets something unusual (another colour space than the TIFF
 * says, other sizes than the tile's, a libjpeg error or warning) returns a reason
 * instead of pixels, and the caller reads the region through OpenSlide. Each
 * thread keeps its own TurboJPEG handles and native scratch buffers, sized by the
 * largest tile it has decoded; they are released when the thread ends.
 */
public final class JpegTileDecoder {

  /** Crop when the iMCU-aligned crop covers at most this fraction of the tile's area. */
  private static final double CROP_AREA_LIMIT = Double.parseDouble(System.getProperty("bagpipe.jpeg.crop-area", "0.5"));

  /** Longest tile stream accepted (bytes): larger ones are read by OpenSlide. */
  private static final int MAX_TILE_BYTES = 64 << 20;

  // MCU sizes per TurboJPEG subsampling (444, 422, 420, GRAY, 440, 411).
  private static final int[] MCU_W = {8, 16, 16, 8, 8, 32};
  private static final int[] MCU_H = {8, 8, 16, 8, 16, 8};
  private static final int TJSAMP_444 = 0;
  private static final int TJSAMP_GRAY = 3;

  private static final Cleaner CLEANER = Cleaner.create();
  private static final ThreadLocal<State> STATE = new ThreadLocal<>();

  private JpegTileDecoder() {}

  /** Whether libturbojpeg is present and bound. */
  public static boolean available() {
    return TurboJpegLibrary.get() != null;
  }

  /** Why {@link #available()} is false, or null when it is true. */
  public static String unavailableReason() {
    return TurboJpegLibrary.unavailableReason();
  }

  /**
   * Decodes the {@code rw x rh} rectangle at ({@code rx}, {@code ry}) of one tile
   * into {@code dest}: row {@code r} of the rectangle goes to
   * {@code dest.position() + destOffset + r * destStride}, 3 bytes per pixel.
   * The buffer's position does not move.
   *
   * @param file the TIFF, read at {@code offset} for {@code length} bytes
   * @param tables the TIFF's {@code JPEGTables} (a JPEG stream with tables only), or null
   * @param ycbcr whether the TIFF's photometric interpretation is YCbCr (else RGB)
   * @return null when the pixels were written, else why they were not (the
   *     caller then reads the region another way)
   * @throws IOException when the file cannot be read
   */
  public static String decode(
      FileChannel file, byte[] tables, long offset, long length, int tileWidth, int tileHeight, boolean ycbcr,
      int rx, int ry, int rw, int rh, ByteBuffer dest, int destOffset, int destStride) throws IOException {
    TurboJpegLibrary lib = TurboJpegLibrary.get();
    if (lib == null) {
      return TurboJpegLibrary.unavailableReason();
    }
    if (length < 4 || length > MAX_TILE_BYTES) {
      return "tile stream of " + length + " bytes";
    }
    if (!dest.isDirect()) {
      throw new IllegalArgumentException("destination buffer must be direct");
    }
    State s = state(lib);
    if (s == null) {
      return "TurboJPEG handles could not be created";
    }
    int len = (int) length;
    int head = 0;
    if (tables != null) {
      int t = tables.length;
      if (t < 4 || (tables[0] & 0xFF) != 0xFF || (tables[1] & 0xFF) != 0xD8
          || (tables[t - 2] & 0xFF) != 0xFF || (tables[t - 1] & 0xFF) != 0xD9) {
        return "JPEGTables is not an SOI..EOI stream";
      }
      head = t - 2;
    }
    s.ensureSource(head + len);
    if (head > 0) {
      MemorySegment.copy(tables, 0, s.src, JAVA_BYTE, 0, head);
    }
    ByteBuffer into = s.srcBuffer.duplicate().position(head).limit(head + len);
    long pos = offset;
    while (into.hasRemaining()) {
      int n = file.read(into, pos);
      if (n < 0) {
        return "tile stream ends past the end of the file";
      }
      pos += n;
    }
    if ((s.src.get(JAVA_BYTE, head) & 0xFF) != 0xFF || (s.src.get(JAVA_BYTE, head + 1) & 0xFF) != 0xD8) {
      return "tile stream does not start with SOI";
    }
    long total;
    if (head > 0) {
      MemorySegment.copy(s.src, head + 2, s.src, head, len - 2);
      total = head + len - 2;
    } else {
      total = len;
    }
    try {
      int rc = (int) lib.decompressHeader3.invokeExact(
          s.dec, s.src, total, s.ints, s.ints.asSlice(4), s.ints.asSlice(8), s.ints.asSlice(12));
      if (rc != 0) {
        return "tjDecompressHeader3: " + s.error(lib, s.dec);
      }
      int w = s.ints.get(JAVA_INT, 0);
      int h = s.ints.get(JAVA_INT, 4);
      int subsamp = s.ints.get(JAVA_INT, 8);
      int colourspace = s.ints.get(JAVA_INT, 12);
      if (w != tileWidth || h != tileHeight) {
        return "JPEG is " + w + "x" + h + ", tile is " + tileWidth + "x" + tileHeight;
      }
      if (colourspace != (ycbcr ? TurboJpegLibrary.TJCS_YCBCR : TurboJpegLibrary.TJCS_RGB)) {
        return "JPEG colour space " + colourspace + " differs from the TIFF's photometric "
            + (ycbcr ? "YCbCr" : "RGB");
      }
      if (subsamp < 0 || subsamp >= MCU_W.length || subsamp == TJSAMP_GRAY) {
        return "JPEG subsampling " + subsamp;
      }
      int mw = MCU_W[subsamp];
      int mh = MCU_H[subsamp];
      int margin = subsamp == TJSAMP_444 ? 0 : 1;
      int cx0 = Math.max(0, (rx / mw - margin) * mw);
      int cy0 = Math.max(0, (ry / mh - margin) * mh);
      int cx1 = Math.min(w, ceilDiv(rx + rw, mw) * mw + margin * mw);
      int cy1 = Math.min(h, ceilDiv(ry + rh, mh) * mh + margin * mh);
      int cw = cx1 - cx0;
      int ch = cy1 - cy0;
      boolean crop = (long) cw * ch <= CROP_AREA_LIMIT * w * h;
      MemorySegment jpeg = s.src;
      long jpegSize = total;
      int outW = w;
      int outH = h;
      int sx = rx;
      int sy = ry;
      if (crop) {
        s.ensureCropped(lib, cw, ch);
        s.xform.set(JAVA_INT, 0, cx0);
        s.xform.set(JAVA_INT, 4, cy0);
        s.xform.set(JAVA_INT, 8, cw);
        s.xform.set(JAVA_INT, 12, ch);
        s.xform.set(JAVA_INT, 16, 0);
        s.xform.set(JAVA_INT, 20, TurboJpegLibrary.TJXOPT_CROP | TurboJpegLibrary.TJXOPT_COPYNONE);
        s.xform.set(ADDRESS, 24, MemorySegment.NULL);
        s.xform.set(ADDRESS, 32, MemorySegment.NULL);
        s.dstBufs.set(ADDRESS, 0, s.cropped);
        s.dstSizes.set(JAVA_LONG, 0, s.cropped.byteSize());
        rc = (int) lib.transform.invokeExact(
            s.xf, s.src, total, 1, s.dstBufs, s.dstSizes, s.xform, TurboJpegLibrary.TJFLAG_NOREALLOC);
        if (rc != 0) {
          return "tjTransform: " + s.error(lib, s.xf);
        }
        jpeg = s.cropped;
        jpegSize = s.dstSizes.get(JAVA_LONG, 0);
        outW = cw;
        outH = ch;
        sx = rx - cx0;
        sy = ry - cy0;
      }
      s.ensureRgb((long) outW * outH * 3);
      rc = (int) lib.decompress2.invokeExact(
          s.dec, jpeg, jpegSize, s.rgb, outW, outW * 3, outH, TurboJpegLibrary.TJPF_RGB, 0);
      if (rc != 0) {
        return "tjDecompress2: " + s.error(lib, s.dec);
      }
      MemorySegment out = MemorySegment.ofBuffer(dest);
      long rowBytes = (long) rw * 3;
      for (int r = 0; r < rh; r++) {
        MemorySegment.copy(s.rgb, ((long) (sy + r) * outW + sx) * 3, out, destOffset + (long) r * destStride, rowBytes);
      }
      return null;
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException("TurboJPEG call failed", t);
    }
  }

  private static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }

  private static State state(TurboJpegLibrary lib) {
    State s = STATE.get();
    if (s == null) {
      s = State.create(lib);
      if (s == null) {
        return null;
      }
      STATE.set(s);
    }
    return s;
  }

  /** One thread's TurboJPEG handles and scratch memory. */
  private static final class State {
    final MemorySegment dec;
    final MemorySegment xf;
    final MemorySegment ints;
    final MemorySegment xform;
    final MemorySegment dstBufs;
    final MemorySegment dstSizes;
    MemorySegment src = MemorySegment.NULL;
    ByteBuffer srcBuffer;
    MemorySegment cropped = MemorySegment.NULL;
    MemorySegment rgb = MemorySegment.NULL;

    private State(MemorySegment dec, MemorySegment xf) {
      this.dec = dec;
      this.xf = xf;
      Arena arena = Arena.ofAuto();
      ints = arena.allocate(16, 8);
      xform = arena.allocate(40, 8);
      dstBufs = arena.allocate(8, 8);
      dstSizes = arena.allocate(8, 8);
    }

    static State create(TurboJpegLibrary lib) {
      try {
        MemorySegment dec = (MemorySegment) lib.initDecompress.invokeExact();
        MemorySegment xf = (MemorySegment) lib.initTransform.invokeExact();
        if (dec.equals(MemorySegment.NULL) || xf.equals(MemorySegment.NULL)) {
          destroy(lib, dec.address(), xf.address());
          return null;
        }
        State s = new State(dec, xf);
        long d = dec.address();
        long x = xf.address();
        CLEANER.register(s, () -> destroy(lib, d, x));
        return s;
      } catch (Throwable t) {
        throw new IllegalStateException("TurboJPEG handle creation failed", t);
      }
    }

    private static void destroy(TurboJpegLibrary lib, long dec, long xf) {
      try {
        if (dec != 0) {
          int unused = (int) lib.destroy.invokeExact(MemorySegment.ofAddress(dec));
        }
        if (xf != 0) {
          int unused = (int) lib.destroy.invokeExact(MemorySegment.ofAddress(xf));
        }
      } catch (Throwable ignored) {
        // a handle that cannot be destroyed leaks its few kilobytes; nothing else to do
      }
    }

    void ensureSource(long bytes) {
      if (src.byteSize() < bytes) {
        src = Arena.ofAuto().allocate(Math.max(bytes, 256 << 10), 64);
        srcBuffer = src.asByteBuffer();
      }
    }

    void ensureCropped(TurboJpegLibrary lib, int w, int h) throws Throwable {
      long need = (long) lib.bufSize.invokeExact(w, h, TJSAMP_444);
      if (cropped.byteSize() < need) {
        cropped = Arena.ofAuto().allocate(Math.max(need, 256 << 10), 64);
      }
    }

    void ensureRgb(long bytes) {
      if (rgb.byteSize() < bytes) {
        rgb = Arena.ofAuto().allocate(Math.max(bytes, 256 * 256 * 3), 64);
      }
    }

    String error(TurboJpegLibrary lib, MemorySegment handle) throws Throwable {
      MemorySegment msg = (MemorySegment) lib.errorStr2.invokeExact(handle);
      return msg.equals(MemorySegment.NULL) ? "unknown error" : msg.reinterpret(4096).getString(0);
    }
  }
}
