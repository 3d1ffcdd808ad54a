package io.bagpipe.slide.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Downcall handles into Debian's {@code libjpeg.so.62} (libjpeg-turbo's libjpeg
 * 6.2 ABI), for the scanline API that TurboJPEG 2.x lacks:
 * {@code jpeg_crop_scanline} and {@code jpeg_skip_scanlines}. Optional, like
 * {@link TurboJpegLibrary}.
 *
 * <p>libjpeg reports a fatal error by calling {@code error_exit}, which must not
 * return, and a Java upcall cannot {@code longjmp}. {@link JpegTileDecoder} therefore
 * hands libjpeg only streams whose headers are byte-identical to a stream that
 * TurboJPEG (which catches errors inside the library) has already decoded without
 * error or warning, and whose entropy-coded data holds no marker: what is left
 * can only raise warnings, which are counted and make the read fall back. The
 * {@code error_exit} installed here is a last resort that halts the JVM with the
 * message and the key to change, rather than libjpeg's silent {@code exit()}.
 *
 * <p>Struct offsets are those of the x86-64 Linux ABI of libjpeg-turbo's
 * {@code jpeglib.h} at {@code JPEG_LIB_VERSION} 62.
 */
final class LibJpegLibrary {

  static final String SONAME = "libjpeg.so.62";
  static final int JPEG_LIB_VERSION = 62;
  static final long SIZEOF_DECOMPRESS = 632;
  static final long SIZEOF_ERROR_MGR = 168;
  static final long OFF_ERR = 0;
  static final long OFF_JPEG_COLOR_SPACE = 60;
  static final long OFF_OUT_COLOR_SPACE = 64;
  static final long OFF_OUTPUT_WIDTH = 136;
  static final long OFF_OUTPUT_HEIGHT = 140;
  static final long OFF_OUTPUT_SCANLINE = 168;
  static final long OFF_ERR_ERROR_EXIT = 0;
  static final long OFF_ERR_OUTPUT_MESSAGE = 16;
  static final long OFF_ERR_MSG_CODE = 40;
  static final long OFF_ERR_NUM_WARNINGS = 128;
  static final int JCS_RGB = 2;
  static final int JCS_YCBCR = 3;

  final MethodHandle stdError;
  final MethodHandle createDecompress;
  final MethodHandle memSrc;
  final MethodHandle readHeader;
  final MethodHandle startDecompress;
  final MethodHandle cropScanline;
  final MethodHandle skipScanlines;
  final MethodHandle readScanlines;
  final MethodHandle abortDecompress;
  final MethodHandle destroyDecompress;
  final MemorySegment errorExitStub;
  final MemorySegment outputMessageStub;

  private static final Object LOCK = new Object();
  private static volatile boolean loaded;
  private static LibJpegLibrary instance;

  private LibJpegLibrary(SymbolLookup lib) throws ReflectiveOperationException {
    Linker linker = Linker.nativeLinker();
    stdError = bind(linker, lib, "jpeg_std_error", FunctionDescriptor.of(ADDRESS, ADDRESS));
    createDecompress =
        bind(linker, lib, "jpeg_CreateDecompress", FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, JAVA_LONG));
    memSrc = bind(linker, lib, "jpeg_mem_src", FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG));
    readHeader = bind(linker, lib, "jpeg_read_header", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    startDecompress = bind(linker, lib, "jpeg_start_decompress", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    cropScanline = bind(linker, lib, "jpeg_crop_scanline", FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS));
    skipScanlines = bind(linker, lib, "jpeg_skip_scanlines", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    readScanlines =
        bind(linker, lib, "jpeg_read_scanlines", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    abortDecompress = bind(linker, lib, "jpeg_abort_decompress", FunctionDescriptor.ofVoid(ADDRESS));
    destroyDecompress = bind(linker, lib, "jpeg_destroy_decompress", FunctionDescriptor.ofVoid(ADDRESS));
    MethodHandles.Lookup here = MethodHandles.lookup();
    errorExitStub = linker.upcallStub(
        here.findStatic(LibJpegLibrary.class, "errorExit", MethodType.methodType(void.class, MemorySegment.class)),
        FunctionDescriptor.ofVoid(ADDRESS), Arena.global());
    outputMessageStub = linker.upcallStub(
        here.findStatic(LibJpegLibrary.class, "outputMessage", MethodType.methodType(void.class, MemorySegment.class)),
        FunctionDescriptor.ofVoid(ADDRESS), Arena.global());
  }

  /** The bound library, or null when it is missing or lacks a function. */
  static LibJpegLibrary get() {
    if (!loaded) {
      synchronized (LOCK) {
        if (!loaded) {
          String arch = System.getProperty("os.arch");
          try {
            // the struct offsets below were taken on x86-64 Linux; elsewhere TurboJPEG decodes every tile
            instance = !"amd64".equals(arch) && !"x86_64".equals(arch) ? null
                : new LibJpegLibrary(SymbolLookup.libraryLookup(SONAME, Arena.global()));
          } catch (IllegalArgumentException | UnsatisfiedLinkError | ReflectiveOperationException e) {
            instance = null;
          }
          loaded = true;
        }
      }
    }
    return instance;
  }

  /**
   * libjpeg's fatal-error hook. Unreachable for the streams it is given (see the
   * class comment) short of running out of native memory; it must not return, and
   * an exception cannot cross libjpeg's frames, so it halts with a clear message.
   */
  private static void errorExit(MemorySegment cinfo) {
    int code = -1;
    try {
      MemorySegment err = cinfo.reinterpret(SIZEOF_DECOMPRESS).get(ADDRESS, OFF_ERR).reinterpret(SIZEOF_ERROR_MGR);
      code = err.get(JAVA_INT, OFF_ERR_MSG_CODE);
    } catch (RuntimeException ignored) {
      // report what we have
    }
    System.err.println("bagpipe: libjpeg stopped with fatal error code " + code
        + " while decoding a slide tile; the JVM cannot continue past it. Set bagpipe.slide.decoder = openslide"
        + " to read slides through OpenSlide only, and report the slide.");
    System.err.flush();
    Runtime.getRuntime().halt(70);
  }

  /** Warnings are counted in {@code num_warnings} and make the read fall back; nothing is printed. */
  private static void outputMessage(MemorySegment cinfo) {}

  private static MethodHandle bind(Linker linker, SymbolLookup lib, String name, FunctionDescriptor fd) {
    MemorySegment symbol =
        lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError(SONAME + " lacks " + name));
    return linker.downcallHandle(symbol, fd);
  }
}
