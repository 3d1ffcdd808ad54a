package io.bagpipe.bag;

import io.jhdf.HdfFile;
import io.jhdf.api.Attribute;
import io.jhdf.api.Dataset;
import io.jhdf.api.Node;
import java.lang.reflect.Array;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * The patches of one slide as CLAM ({@code create_patches_fp.py}) and TRIDENT write
 * them: an HDF5 file whose dataset {@code coords} holds N x 2 integers, each row the
 * level-0 x, y of a patch's top-left corner, read with jhdf.
 *
 * <p>The attributes that say how big a patch is are read from the {@code coords}
 * dataset (both tools put them there) or else from the file's root group:
 * {@code patch_size_level0} (TRIDENT), otherwise {@code patch_size} at
 * {@code patch_level}, scaled by the level's {@code downsample} (CLAM) when the level
 * is not 0. When none of these is present the level-0 patch size is unknown.
 *
 * <p>Memory: the dataset is read once as a flat array (int32 or int64) and copied into
 * the interleaved {@code int[]} of {@link PatchCoordinates}; a slide of 100k patches
 * costs under 2 MB while it is read. Every problem is a {@link BagInputException}
 * naming the file and, for a bad coordinate, its row (1-based).
 *
 * @param coordinates the patches, in file order
 * @param patchSize the {@code patch_size} attribute (pixels at {@code patchLevel}), if present
 * @param patchLevel the {@code patch_level} attribute, if present
 * @param patchSizeLevel0 the side of a patch in level-0 pixels, when the attributes give it
 */
public record H5Coordinates(PatchCoordinates coordinates, OptionalInt patchSize, OptionalInt patchLevel,
    OptionalInt patchSizeLevel0) {

  public H5Coordinates {
    Objects.requireNonNull(coordinates, "coordinates");
    Objects.requireNonNull(patchSize, "patchSize");
    Objects.requireNonNull(patchLevel, "patchLevel");
    Objects.requireNonNull(patchSizeLevel0, "patchSizeLevel0");
  }

  /**
   * Reads {@code h5}.
   *
   * @param patchSize side of the run's square patches, used with {@code extent}
   * @param extent the slide's level-0 size; when not null, every patch must lie inside it
   */
  public static H5Coordinates read(Path h5, int patchSize, Extent extent) {
    if (!Files.isRegularFile(h5)) {
      throw new BagInputException(h5, 0, "coordinate file of slide '" + slideId(h5) + "' not found");
    }
    try (HdfFile file = new HdfFile(h5)) {
      Node node = file.getChildren().get("coords");
      if (!(node instanceof Dataset coords)) {
        throw new BagInputException(h5, 0, "no dataset 'coords' in this HDF5 file (found: "
            + String.join(", ", file.getChildren().keySet()) + "); a CLAM or TRIDENT patch file holds the level-0"
            + " x,y of each patch in 'coords'");
      }
      int[] dims = coords.getDimensions();
      if (dims.length != 2 || dims[1] != 2) {
        throw new BagInputException(h5, 0, "dataset 'coords' must be N x 2 (x, y per row), found shape "
            + java.util.Arrays.toString(dims));
      }
      if (dims[0] == 0) {
        throw new BagInputException(h5, 0, "slide '" + slideId(h5) + "' has no patches");
      }
      int[] xy = interleaved(coords.getDataFlat(), h5, patchSize, extent);
      Map<String, Attribute> attrs = coords.getAttributes();
      Map<String, Attribute> root = file.getAttributes();
      OptionalInt size = intAttribute(h5, attrs, root, "patch_size");
      OptionalInt level = intAttribute(h5, attrs, root, "patch_level");
      OptionalInt level0 = intAttribute(h5, attrs, root, "patch_size_level0");
      if (level0.isEmpty() && size.isPresent() && level.isPresent()) {
        if (level.getAsInt() == 0) {
          level0 = size;
        } else {
          Attribute down = attrs.containsKey("downsample") ? attrs.get("downsample") : root.get("downsample");
          double d = down == null ? Double.NaN : number(down.getData());
          if (d > 0) {
            level0 = OptionalInt.of((int) Math.round(size.getAsInt() * d));
          }
        }
      }
      return new H5Coordinates(PatchCoordinates.wrap(xy), size, level, level0);
    } catch (BagInputException e) {
      throw e;
    } catch (RuntimeException e) { // jhdf reports a damaged or non-HDF5 file as an unchecked exception
      throw new BagInputException(h5, 0, "cannot read as HDF5 (" + e.getClass().getSimpleName() + ": " + e.getMessage()
          + "); is it a CLAM or TRIDENT patch file?");
    }
  }

  /** Reads {@code h5} without checking it against a slide. */
  public static H5Coordinates read(Path h5) {
    return read(h5, 1, null);
  }

  private static int[] interleaved(Object flat, Path h5, int patchSize, Extent extent) {
    int n = Array.getLength(flat);
    int[] xy = new int[n];
    for (int i = 0; i < n; i++) {
      final int at = i;
      long v = switch (flat) {
        case int[] a -> a[at];
        case long[] a -> a[at];
        case short[] a -> a[at];
        case double[] a when a[at] == Math.rint(a[at]) -> (long) a[at];
        case float[] a when a[at] == Math.rint(a[at]) -> (long) a[at];
        default -> throw new BagInputException(h5, at / 2 + 1, "dataset 'coords' must hold integers, found "
            + flat.getClass().getComponentType() + " value " + Array.get(flat, at));
      };
      if (v < 0 || v > Integer.MAX_VALUE) {
        throw new BagInputException(h5, i / 2 + 1, "coordinate " + v + " in row " + (i / 2 + 1)
            + " of 'coords' must be an integer in 0.." + Integer.MAX_VALUE);
      }
      xy[i] = (int) v;
    }
    if (extent != null) {
      for (int r = 0; r < n / 2; r++) {
        if (!extent.contains(xy[2 * r], xy[2 * r + 1], patchSize)) {
          throw new BagInputException(h5, r + 1, "patch at (" + xy[2 * r] + ", " + xy[2 * r + 1] + ") of size "
              + patchSize + " (row " + (r + 1) + " of 'coords') lies outside slide '" + slideId(h5) + "' of "
              + extent + " pixels at level 0");
        }
      }
    }
    return xy;
  }

  private static OptionalInt intAttribute(Path h5, Map<String, Attribute> first, Map<String, Attribute> second,
      String name) {
    Attribute a = first.containsKey(name) ? first.get(name) : second.get(name);
    if (a == null) {
      return OptionalInt.empty();
    }
    double v = number(a.getData());
    if (!(v >= 0) || v != Math.rint(v) || v > Integer.MAX_VALUE) {
      throw new BagInputException(h5, 0, "attribute '" + name + "' must be a non-negative integer, found "
          + describe(a.getData()));
    }
    return OptionalInt.of((int) v);
  }

  /** A scalar attribute, or the first element of an array one; NaN when it holds no number. */
  private static double number(Object data) {
    if (data instanceof Number n) {
      return n.doubleValue();
    }
    if (data instanceof String s) {
      try {
        return Double.parseDouble(s.trim());
      } catch (NumberFormatException e) {
        return Double.NaN;
      }
    }
    if (data != null && data.getClass().isArray() && Array.getLength(data) > 0) {
      return number(Array.get(data, 0));
    }
    return Double.NaN;
  }

  private static String describe(Object data) {
    if (data != null && data.getClass().isArray()) {
      StringBuilder b = new StringBuilder("[");
      for (int i = 0; i < Array.getLength(data); i++) {
        b.append(i == 0 ? "" : ", ").append(Array.get(data, i));
      }
      return b.append(']').toString();
    }
    return String.valueOf(data);
  }

  private static String slideId(Path h5) {
    String name = h5.getFileName().toString();
    return name.endsWith(".h5") ? name.substring(0, name.length() - 3) : name;
  }
}
