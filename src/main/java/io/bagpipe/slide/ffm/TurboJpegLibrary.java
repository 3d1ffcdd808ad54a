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

/**
 * Downcall handles into Debian's {@code libturbojpeg.so.0} (libjpeg-turbo's
 * TurboJPEG 2.x API), bound once per JVM. The library is optional: when it is
 * missing, {@link #get()} returns null and {@link #unavailableReason()} says why,
 * and slides are read through OpenSlide alone.
 *
 * <p>Only the TurboJPEG API is used, never libjpeg's own: TurboJPEG catches
 * libjpeg's fatal errors with {@code setjmp} inside the library and returns -1,
 * whereas libjpeg's default error handler calls {@code exit()}, and a Java upcall
 * cannot {@code longjmp} out of it.
 */
final class TurboJpegLibrary {

  /** The soname looked up; Debian's package {@code libturbojpeg0} provides it. */
  static final String SONAME = "libturbojpeg.so.0";

  static final int TJPF_RGB = 0;
  static final int TJCS_RGB = 0;
  static final int TJCS_YCBCR = 1;
  static final int TJXOPT_CROP = 4;
  static final int TJXOPT_COPYNONE = 64;
  static final int TJFLAG_NOREALLOC = 1024;

  final MethodHandle initDecompress;
  final MethodHandle initTransform;
  final MethodHandle decompressHeader3;
  final MethodHandle decompress2;
  final MethodHandle transform;
  final MethodHandle bufSize;
  final MethodHandle destroy;
  final MethodHandle errorStr2;

  private static final Object LOCK = new Object();
  private static volatile boolean loaded;
  private static TurboJpegLibrary instance;
  private static String unavailable;

  private TurboJpegLibrary(SymbolLookup lib) {
    Linker linker = Linker.nativeLinker();
    initDecompress = bind(linker, lib, "tjInitDecompress", FunctionDescriptor.of(ADDRESS));
    initTransform = bind(linker, lib, "tjInitTransform", FunctionDescriptor.of(ADDRESS));
    decompressHeader3 =
        bind(linker, lib, "tjDecompressHeader3",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    decompress2 =
        bind(linker, lib, "tjDecompress2",
            FunctionDescriptor.of(
                JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    transform =
        bind(linker, lib, "tjTransform",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT));
    bufSize = bind(linker, lib, "tjBufSize", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT));
    destroy = bind(linker, lib, "tjDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    errorStr2 = bind(linker, lib, "tjGetErrorStr2", FunctionDescriptor.of(ADDRESS, ADDRESS));
  }

  /** The bound library, or null when it is missing or lacks a function. */
  static TurboJpegLibrary get() {
    if (!loaded) {
      synchronized (LOCK) {
        if (!loaded) {
          try {
            instance = new TurboJpegLibrary(SymbolLookup.libraryLookup(SONAME, Arena.global()));
          } catch (IllegalArgumentException e) {
            unavailable = SONAME + " was not found (install it: sudo apt-get install -y libturbojpeg0)";
          } catch (UnsatisfiedLinkError e) {
            unavailable = e.getMessage();
          }
          loaded = true;
        }
      }
    }
    return instance;
  }

  /** Why {@link #get()} returned null, or null when the library is bound. */
  static String unavailableReason() {
    get();
    return unavailable;
  }

  private static MethodHandle bind(Linker linker, SymbolLookup lib, String name, FunctionDescriptor fd) {
    MemorySegment symbol =
        lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError(SONAME + " lacks " + name + " (TurboJPEG 2.x needed)"));
    return linker.downcallHandle(symbol, fd);
  }
}
