package io.bagpipe.slide.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * Downcall handles into Debian's {@code libopenslide.so.0} (OpenSlide 3.4.1 API),
 * bound once per JVM with the Foreign Function and Memory API. Only this package
 * touches {@link MemorySegment}s; everything above it sees Java types.
 *
 * <p>OpenSlide handles are thread-safe: several threads may call
 * {@code openslide_read_region} on one handle at once. A handle that reports an
 * error stays in that state and must be closed.
 */
final class OpenSlideLibrary {

  /** The soname looked up; Debian's package {@code libopenslide0} provides it. */
  static final String SONAME = "libopenslide.so.0";

  final MethodHandle open;
  final MethodHandle detectVendor;
  final MethodHandle getError;
  final MethodHandle levelCount;
  final MethodHandle levelDimensions;
  final MethodHandle levelDownsample;
  final MethodHandle bestLevelForDownsample;
  final MethodHandle readRegion;
  final MethodHandle propertyNames;
  final MethodHandle propertyValue;
  final MethodHandle close;
  final MethodHandle version;

  private static volatile OpenSlideLibrary instance;

  private OpenSlideLibrary(SymbolLookup lib) {
    Linker linker = Linker.nativeLinker();
    open = bind(linker, lib, "openslide_open", FunctionDescriptor.of(ADDRESS, ADDRESS));
    detectVendor = bind(linker, lib, "openslide_detect_vendor", FunctionDescriptor.of(ADDRESS, ADDRESS));
    getError = bind(linker, lib, "openslide_get_error", FunctionDescriptor.of(ADDRESS, ADDRESS));
    levelCount = bind(linker, lib, "openslide_get_level_count", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    levelDimensions =
        bind(linker, lib, "openslide_get_level_dimensions",
            FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
    levelDownsample =
        bind(linker, lib, "openslide_get_level_downsample", FunctionDescriptor.of(JAVA_DOUBLE, ADDRESS, JAVA_INT));
    bestLevelForDownsample =
        bind(linker, lib, "openslide_get_best_level_for_downsample",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_DOUBLE));
    readRegion =
        bind(linker, lib, "openslide_read_region",
            FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG));
    propertyNames = bind(linker, lib, "openslide_get_property_names", FunctionDescriptor.of(ADDRESS, ADDRESS));
    propertyValue =
        bind(linker, lib, "openslide_get_property_value", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
    close = bind(linker, lib, "openslide_close", FunctionDescriptor.ofVoid(ADDRESS));
    version = bind(linker, lib, "openslide_get_version", FunctionDescriptor.of(ADDRESS));
  }

  /** The bound library; throws {@link UnsatisfiedLinkError} with the fix when it is missing. */
  static OpenSlideLibrary get() {
    OpenSlideLibrary lib = instance;
    if (lib == null) {
      synchronized (OpenSlideLibrary.class) {
        lib = instance;
        if (lib == null) {
          SymbolLookup lookup;
          try {
            lookup = SymbolLookup.libraryLookup(SONAME, Arena.global());
          } catch (IllegalArgumentException e) {
            UnsatisfiedLinkError err =
                new UnsatisfiedLinkError(
                    SONAME + " was not found. Install OpenSlide: sudo apt-get install -y libopenslide0");
            err.initCause(e);
            throw err;
          }
          lib = new OpenSlideLibrary(lookup);
          instance = lib;
        }
      }
    }
    return lib;
  }

  private static MethodHandle bind(Linker linker, SymbolLookup lib, String name, FunctionDescriptor fd) {
    MemorySegment symbol =
        lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError(SONAME + " lacks " + name + " (OpenSlide >= 3.4 needed)"));
    return linker.downcallHandle(symbol, fd);
  }
}
