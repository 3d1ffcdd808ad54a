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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

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
 * <p>That is the TurboJPEG path, taken for the first tile of each distinct stream
 * header. Once a header has decoded cleanly, later tiles with that header and no
 * marker in their entropy-coded data take the libjpeg path instead
 * ({@link LibJpegLibrary}): {@code jpeg_crop_scanline} to the iMCU columns of the
 * rectangle (same margin rule), {@code jpeg_skip_scanlines} past the rows above
 * it, and no decoding of the rows below it.
 *
 * <p>Every call that meets something unusual (another colour space than the TIFF
 * says, other sizes than the tile's, a libjpeg error or warning) returns a reason
 * instead of pixels, and the caller reads the region through OpenSlide. Each
 * thread keeps its own TurboJPEG handles and native scratch buffers, sized by the
 * largest tile it has decoded; they are released when the thread ends.
 */
public final class JpegTileDecoder {

  /** Crop when the iMCU-aligned crop covers at most this fraction of the tile's area. */
  private static final double CROP_AREA_LIMIT = 0.5;

  /** Longest tile stream accepted (bytes): larger ones are read by OpenSlide. */
  private static final int MAX_TILE_BYTES = 64 << 20;

  // MCU sizes per TurboJPEG subsampling (444, 422, 420, GRAY, 440, 411).
  private static final int[] MCU_W = {8, 16, 16, 8, 8, 32};
  private static final int[] MCU_H = {8, 8, 16, 8, 16, 8};
  private static final int TJSAMP_444 = 0;
  private static final int TJSAMP_GRAY = 3;

  /**
   * Stream headers (tables, frame and scan headers, byte for byte) that TurboJPEG
   * decoded without error or warning. Streams with one of these headers and no
   * marker in their entropy-coded data are decoded with libjpeg's scanline API.
   * Bounded: once full, streams with unseen headers stay on TurboJPEG.
   */
  private static final Set<ByteBuffer> VALIDATED = ConcurrentHashMap.newKeySet();
  private static final int MAX_VALIDATED = 256;

  private static final LongAdder SCANLINE = new LongAdder();
  private static final LongAdder TURBO = new LongAdder();

  private static final Cleaner CLEANER = Cleaner.create();
  private static final ThreadLocal<State> STATE = new ThreadLocal<>();

  private JpegTileDecoder() {}

  /** Whether libturbojpeg is present and bound. */
  public static boolean available() {
    return TurboJpegLibrary.get() != null;
  }

  /** Whether libjpeg's scanline API ({@code libjpeg.so.62}) is bound too, for cropped decodes. */
  public static boolean scanlineAvailable() {
    return available() && LibJpegLibrary.get() != null;
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
    LibJpegLibrary lj = LibJpegLibrary.get();
    byte[] header = null;
    if (lj != null) {
      header = s.headerIfPlain(total);
      if (header != null && VALIDATED.contains(ByteBuffer.wrap(header))) {
        SCANLINE.increment();
        return s.scanlines(lj, total, tileWidth, tileHeight, ycbcr, rx, ry, rw, rh, dest, destOffset, destStride);
      }
    }
    TURBO.increment();
    String reason = turbo(lib, s, total, tileWidth, tileHeight, ycbcr, rx, ry, rw, rh, dest, destOffset, destStride);
    if (reason != null) {
      // TurboJPEG 2.x can leave a handle mid-header after an error, failing every later call: start afresh
      STATE.remove();
    }
    if (reason == null && header != null && VALIDATED.size() < MAX_VALIDATED) {
      VALIDATED.add(ByteBuffer.wrap(header));
    }
    return reason;
  }

  /** Decodes with TurboJPEG: whole tile, or a lossless DCT-domain crop of it. */
  private static String turbo(TurboJpegLibrary lib, State s, long total, int tileWidth, int tileHeight, boolean ycbcr,
      int rx, int ry, int rw, int rh, ByteBuffer dest, int destOffset, int destStride) {
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

  /**
   * Tiles decoded in this JVM so far: {libjpeg scanline decodes, TurboJPEG decodes}
   * (TurboJPEG takes every tile whose stream header it has not yet decoded cleanly).
   */
  public static long[] decodeCounts() {
    return new long[] {SCANLINE.sum(), TURBO.sum()};
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

    /**
     * The stream's bytes up to the end of its SOS segment, when the stream is
     * SOI, marker segments, one SOS, entropy-coded data with no marker other
     * than RSTn, and EOI at its very end; else null. Also records the MCU size and
     * whether chroma is subsampled, from the frame header.
     */
    byte[] headerIfPlain(long total) {
      if (total < 8 || (s8(0) != 0xFF) || s8(1) != 0xD8 || s8(total - 2) != 0xFF || s8(total - 1) != 0xD9) {
        return null;
      }
      long p = 2;
      long headerEnd = -1;
      int hmax = 0;
      int vmax = 0;
      boolean mixed = false;
      while (p + 4 <= total) {
        if (s8(p) != 0xFF) {
          return null;
        }
        int m = s8(p + 1);
        int len = (s8(p + 2) << 8) | s8(p + 3);
        if (m == 0xFF || m == 0x01 || (m >= 0xD0 && m <= 0xD9) || len < 2 || p + 2 + len > total) {
          return null;
        }
        if (m == 0xC0 || m == 0xC1) {
          int nc = len >= 8 ? s8(p + 9) : 0;
          if (nc != 3 || len != 8 + 3 * nc) {
            return null;
          }
          int first = s8(p + 11);
          for (int c = 0; c < nc; c++) {
            int f = s8(p + 11 + 3L * c);
            hmax = Math.max(hmax, f >> 4);
            vmax = Math.max(vmax, f & 15);
            mixed |= f != first;
          }
        } else if (m >= 0xC2 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
          return null; // progressive, lossless or arithmetic: TurboJPEG only
        }
        p += 2 + len;
        if (m == 0xDA) {
          headerEnd = p;
          break;
        }
      }
      if (headerEnd < 0 || hmax < 1 || vmax < 1 || hmax > 4 || vmax > 4) {
        return null;
      }
      // entropy-coded data: 0xFF must be a stuffed 0x00 or a restart marker, up to the final EOI
      ByteBuffer b = srcBuffer;
      long end = total - 2;
      long i = headerEnd;
      for (; i + 8 <= end; i += 8) {
        long v = ~b.getLong((int) i);
        if (((v - 0x0101010101010101L) & ~v & 0x8080808080808080L) == 0) {
          continue;
        }
        for (long j = i; j < i + 8; j++) {
          if (!stuffedOrRestart(j, end)) {
            return null;
          }
        }
      }
      for (; i < end; i++) {
        if (!stuffedOrRestart(i, end)) {
          return null;
        }
      }
      mcuWidth = 8 * hmax;
      mcuHeight = 8 * vmax;
      subsampled = mixed;
      byte[] header = new byte[(int) headerEnd];
      MemorySegment.copy(src, JAVA_BYTE, 0, header, 0, header.length);
      return header;
    }

    private boolean stuffedOrRestart(long j, long end) {
      if (s8(j) != 0xFF) {
        return true;
      }
      if (j + 1 >= end) {
        return false;
      }
      int n = s8(j + 1);
      return n == 0x00 || (n >= 0xD0 && n <= 0xD7);
    }

    private int s8(long at) {
      return src.get(JAVA_BYTE, at) & 0xFF;
    }

    int mcuWidth;
    int mcuHeight;
    boolean subsampled;
    MemorySegment cinfo;
    MemorySegment cropArgs;
    MemorySegment rows = MemorySegment.NULL;

    /**
     * Decodes with libjpeg as OpenSlide does (colour space from the TIFF, RGB
     * out, default IDCT and upsampling), but only the iMCU columns the rectangle
     * needs ({@code jpeg_crop_scanline}), skipping the rows above it
     * ({@code jpeg_skip_scanlines}) and stopping after its last row.
     */
    String scanlines(LibJpegLibrary lj, long total, int w, int h, boolean ycbcr,
        int rx, int ry, int rw, int rh, ByteBuffer dest, int destOffset, int destStride) {
      try {
        if (cinfo == null) {
          Arena arena = Arena.ofAuto();
          MemorySegment err = arena.allocate(LibJpegLibrary.SIZEOF_ERROR_MGR, 16);
          MemorySegment ci = arena.allocate(LibJpegLibrary.SIZEOF_DECOMPRESS, 16);
          MemorySegment unused = (MemorySegment) lj.stdError.invokeExact(err);
          err.set(ADDRESS, LibJpegLibrary.OFF_ERR_ERROR_EXIT, lj.errorExitStub);
          err.set(ADDRESS, LibJpegLibrary.OFF_ERR_OUTPUT_MESSAGE, lj.outputMessageStub);
          ci.set(ADDRESS, LibJpegLibrary.OFF_ERR, err);
          lj.createDecompress.invokeExact(ci, LibJpegLibrary.JPEG_LIB_VERSION, LibJpegLibrary.SIZEOF_DECOMPRESS);
          cropArgs = arena.allocate(8, 8);
          cinfo = ci;
          MemorySegment keep = err;
          CLEANER.register(this, () -> {
            try {
              lj.destroyDecompress.invokeExact(ci);
            } catch (Throwable ignored) {
              // the struct's pools leak; nothing else to do
            }
            keep.byteSize();
          });
        }
        MemorySegment err = cinfo.get(ADDRESS, LibJpegLibrary.OFF_ERR).reinterpret(LibJpegLibrary.SIZEOF_ERROR_MGR);
        err.set(JAVA_LONG, LibJpegLibrary.OFF_ERR_NUM_WARNINGS, 0L);
        lj.memSrc.invokeExact(cinfo, src, total);
        int hdr = (int) lj.readHeader.invokeExact(cinfo, 1);
        if (hdr != 1) {
          lj.abortDecompress.invokeExact(cinfo);
          return "jpeg_read_header returned " + hdr;
        }
        cinfo.set(JAVA_INT, LibJpegLibrary.OFF_JPEG_COLOR_SPACE, ycbcr ? LibJpegLibrary.JCS_YCBCR : LibJpegLibrary.JCS_RGB);
        cinfo.set(JAVA_INT, LibJpegLibrary.OFF_OUT_COLOR_SPACE, LibJpegLibrary.JCS_RGB);
        int started = (int) lj.startDecompress.invokeExact(cinfo);
        int ow = cinfo.get(JAVA_INT, LibJpegLibrary.OFF_OUTPUT_WIDTH);
        int oh = cinfo.get(JAVA_INT, LibJpegLibrary.OFF_OUTPUT_HEIGHT);
        if (started != 1 || ow != w || oh != h) {
          lj.abortDecompress.invokeExact(cinfo);
          return "JPEG is " + ow + "x" + oh + ", tile is " + w + "x" + h;
        }
        int margin = subsampled ? 1 : 0;
        int cx0 = Math.max(0, (rx / mcuWidth - margin) * mcuWidth);
        int cx1 = Math.min(w, ceilDiv(rx + rw, mcuWidth) * mcuWidth + margin * mcuWidth);
        int cy0 = Math.max(0, (ry / mcuHeight - margin) * mcuHeight);
        int last = Math.min(h, ry + rh + margin * mcuHeight);
        int xoff = 0;
        int outW = w;
        if (cx0 > 0 || cx1 < w) {
          cropArgs.set(JAVA_INT, 0, cx0);
          cropArgs.set(JAVA_INT, 4, cx1 - cx0);
          lj.cropScanline.invokeExact(cinfo, cropArgs, cropArgs.asSlice(4));
          xoff = cropArgs.get(JAVA_INT, 0);
          outW = cinfo.get(JAVA_INT, LibJpegLibrary.OFF_OUTPUT_WIDTH);
        }
        if (cy0 > 0) {
          int skipped = (int) lj.skipScanlines.invokeExact(cinfo, cy0);
          if (skipped != cy0) {
            lj.abortDecompress.invokeExact(cinfo);
            return "jpeg_skip_scanlines skipped " + skipped + " of " + cy0 + " rows";
          }
        }
        int n = last - cy0;
        ensureRgb((long) outW * 3 * n);
        if (rows.byteSize() < 8L * n) {
          rows = Arena.ofAuto().allocate(8L * Math.max(n, 256), 8);
        }
        for (int r = 0; r < n; r++) {
          rows.setAtIndex(ADDRESS, r, rgb.asSlice((long) r * outW * 3));
        }
        int got = 0;
        while (got < n) {
          int k = (int) lj.readScanlines.invokeExact(cinfo, rows.asSlice(8L * got), n - got);
          if (k <= 0) {
            break;
          }
          got += k;
        }
        long warnings = err.get(JAVA_LONG, LibJpegLibrary.OFF_ERR_NUM_WARNINGS);
        lj.abortDecompress.invokeExact(cinfo);
        if (got != n) {
          return "jpeg_read_scanlines gave " + got + " of " + n + " rows";
        }
        if (warnings != 0) {
          return "libjpeg warned " + warnings + " time(s) (corrupt data)";
        }
        MemorySegment out = MemorySegment.ofBuffer(dest);
        long rowBytes = (long) rw * 3;
        for (int r = 0; r < rh; r++) {
          MemorySegment.copy(rgb, ((long) (ry - cy0 + r) * outW + (rx - xoff)) * 3, out,
              destOffset + (long) r * destStride, rowBytes);
        }
        return null;
      } catch (RuntimeException | Error e) {
        throw e;
      } catch (Throwable t) {
        throw new IllegalStateException("libjpeg call failed", t);
      }
    }

    String error(TurboJpegLibrary lib, MemorySegment handle) throws Throwable {
      MemorySegment msg = (MemorySegment) lib.errorStr2.invokeExact(handle);
      return msg.equals(MemorySegment.NULL) ? "unknown error" : msg.reinterpret(4096).getString(0);
    }
  }
}
