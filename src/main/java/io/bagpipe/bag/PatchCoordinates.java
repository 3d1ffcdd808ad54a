package io.bagpipe.bag;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The patches of one slide: level-0 top-left corners, at least one, held unboxed as
 * interleaved {@code x0,y0,x1,y1,...} in one {@code int[]} (a slide may have 100k+
 * patches). Immutable.
 *
 * <p>{@link #read} parses {@code coords/<slide_id>.csv}: one {@code x,y} per line,
 * non-negative integers, optional {@code x,y} header on the first line, blank lines
 * and {@code #} lines skipped, LF or CRLF, optional UTF-8 byte-order mark. The
 * parser works on the raw bytes (a 100k-line file parses in a few milliseconds).
 * Every problem is a {@link BagInputException} naming file and line.
 */
public final class PatchCoordinates {

  private final int[] xy;

  private PatchCoordinates(int[] xy) {
    if (xy.length == 0 || xy.length % 2 != 0) {
      throw new IllegalArgumentException("need a positive, even number of values (x,y pairs), got " + xy.length);
    }
    for (int v : xy) {
      if (v < 0) {
        throw new IllegalArgumentException("coordinates must be >= 0, got " + v);
      }
    }
    this.xy = xy;
  }

  /** Coordinates from interleaved {@code x,y} values (copied). */
  public static PatchCoordinates of(int... xy) {
    return new PatchCoordinates(xy.clone());
  }

  /** Coordinates that take ownership of {@code xy} (no copy, for readers that built it). */
  static PatchCoordinates wrap(int[] xy) {
    return new PatchCoordinates(xy);
  }

  /** Number of patches. */
  public int size() {
    return xy.length / 2;
  }

  /** x of patch {@code i}. */
  public int x(int i) {
    return xy[2 * i];
  }

  /** y of patch {@code i}. */
  public int y(int i) {
    return xy[2 * i + 1];
  }

  /** A copy of the interleaved {@code x,y} values. */
  public int[] toArray() {
    return xy.clone();
  }

  /** Reads a coordinate CSV without checking it against a slide; see {@link #read(Path, int, Extent)}. */
  public static PatchCoordinates read(Path csv) {
    return read(csv, 1, null);
  }

  /**
   * Reads a coordinate CSV. The slide id named in errors is the file name without
   * {@code .csv}.
   *
   * @param patchSize side of the square patches, used with {@code extent}
   * @param extent the slide's level-0 size; when not null, every patch must lie inside it
   */
  public static PatchCoordinates read(Path csv, int patchSize, Extent extent) {
    if (patchSize < 1) {
      throw new IllegalArgumentException("patch size must be positive, got " + patchSize);
    }
    byte[] b;
    try {
      b = Files.readAllBytes(csv);
    } catch (NoSuchFileException e) {
      throw new BagInputException(csv, 0, "coordinate file of slide '" + slideId(csv) + "' not found");
    } catch (IOException e) {
      throw new BagInputException(csv, 0, "cannot read coordinates of slide '" + slideId(csv) + "': " + e);
    }
    int[] out = new int[Math.max(16, b.length / 5)];
    int n = 0;
    int line = 0;
    boolean seenContent = false;
    int p = b.length >= 3 && (b[0] & 0xFF) == 0xEF && (b[1] & 0xFF) == 0xBB && (b[2] & 0xFF) == 0xBF ? 3 : 0;
    while (p < b.length) {
      line++;
      int end = p;
      while (end < b.length && b[end] != '\n') {
        end++;
      }
      int next = end + 1;
      if (end > p && b[end - 1] == '\r') {
        end--;
      }
      int s = skipSpaces(b, p, end);
      if (s == end || b[s] == '#') {
        p = next;
        continue;
      }
      if (!seenContent) {
        seenContent = true;
        if (Character.isLetter(b[s]) || b[s] == '"') {
          p = next;
          continue;
        }
      }
      long x = 0;
      long y = 0;
      int q = s;
      int digits = 0;
      while (q < end && b[q] >= '0' && b[q] <= '9' && digits <= 10) {
        x = x * 10 + (b[q++] - '0');
        digits++;
      }
      boolean ok = digits > 0 && digits <= 10;
      q = skipSpaces(b, q, end);
      ok &= q < end && b[q] == ',';
      q = skipSpaces(b, q + 1, end);
      digits = 0;
      while (ok && q < end && b[q] >= '0' && b[q] <= '9' && digits <= 10) {
        y = y * 10 + (b[q++] - '0');
        digits++;
      }
      ok &= digits > 0 && digits <= 10 && skipSpaces(b, q, end) == end && x <= Integer.MAX_VALUE && y <= Integer.MAX_VALUE;
      if (!ok) {
        throw new BagInputException(csv, line,
            "expected x,y (integers >= 0) but found '" + new String(b, s, end - s, java.nio.charset.StandardCharsets.UTF_8) + "'");
      }
      if (extent != null && !extent.contains(x, y, patchSize)) {
        throw new BagInputException(csv, line,
            "patch at (" + x + ", " + y + ") of size " + patchSize + " lies outside slide '" + slideId(csv)
                + "' of " + extent + " pixels at level 0");
      }
      if (n + 2 > out.length) {
        out = Arrays.copyOf(out, out.length + (out.length >> 1) + 2);
      }
      out[n++] = (int) x;
      out[n++] = (int) y;
      p = next;
    }
    if (n == 0) {
      throw new BagInputException(csv, 0, "slide '" + slideId(csv) + "' has no patches");
    }
    return new PatchCoordinates(n == out.length ? out : Arrays.copyOf(out, n));
  }

  private static int skipSpaces(byte[] b, int p, int end) {
    while (p < end && (b[p] == ' ' || b[p] == '\t')) {
      p++;
    }
    return p;
  }

  private static String slideId(Path csv) {
    String name = csv.getFileName().toString();
    return name.endsWith(".csv") ? name.substring(0, name.length() - 4) : name;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof PatchCoordinates other && Arrays.equals(xy, other.xy);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(xy);
  }

  @Override
  public String toString() {
    return "PatchCoordinates[" + size() + " patches]";
  }
}
