package io.bagpipe.features;

import io.jhdf.HdfFile;
import io.jhdf.api.Dataset;
import io.jhdf.api.Node;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * One slide's feature file opened for reading rows: Bagpipe's {@code .bpf} ({@link FeatureFile}),
 * or a CLAM / TRIDENT {@code .h5} with datasets {@code features} (N x D) and {@code coords}
 * (N x 2), or a CLAM / TRIDENT {@code .pt} written by {@code torch.save} ({@link PtFile}: an N x D
 * tensor, or a dict with {@code features} and optionally {@code coords}). Rows are read on demand,
 * a bag's rows at a time, so memory holds the bag, not the slide. Every problem is a
 * {@link FeatureFileException} naming the file. Not thread-safe.
 */
public final class FeatureRows implements AutoCloseable {

  private final Path file;
  private final int rows;
  private final int dim;
  private final Map<String, String> metadata;
  private final FileChannel channel; // .bpf
  private final long featuresOffset;
  private final HdfFile hdf; // .h5
  private final Dataset features;
  private final java.util.function.Supplier<int[]> coordinates;
  private final PtFile pt; // .pt

  private FeatureRows(Path file, int rows, int dim, Map<String, String> metadata, FileChannel channel,
      long featuresOffset, HdfFile hdf, Dataset features, java.util.function.Supplier<int[]> coordinates) {
    this(file, rows, dim, metadata, channel, featuresOffset, hdf, features, coordinates, null);
  }

  private FeatureRows(Path file, int rows, int dim, Map<String, String> metadata, FileChannel channel,
      long featuresOffset, HdfFile hdf, Dataset features, java.util.function.Supplier<int[]> coordinates,
      PtFile pt) {
    this.pt = pt;
    this.file = file;
    this.rows = rows;
    this.dim = dim;
    this.metadata = metadata;
    this.channel = channel;
    this.featuresOffset = featuresOffset;
    this.hdf = hdf;
    this.features = features;
    this.coordinates = coordinates;
  }

  /** The feature file of {@code slideId} in {@code dir}: {@code <id>.bpf}, else {@code <id>.h5}, else {@code <id>.pt}. */
  public static Path find(Path dir, String slideId) {
    for (String ext : new String[] {FeatureFile.EXTENSION, ".h5", ".pt"}) {
      Path p = dir.resolve(slideId + ext);
      if (Files.isRegularFile(p)) {
        return p;
      }
    }
    throw new FeatureFileException(dir.resolve(slideId + FeatureFile.EXTENSION), "no feature file for slide '"
        + slideId + "' (nor " + slideId + ".h5 or .pt) in bagpipe.data.features = " + dir
        + "; run bagpipe features, or point bagpipe.data.features at CLAM/TRIDENT .h5 or .pt files");
  }

  /**
   * Opens {@code file}: reads its header (an {@code .h5}'s dataset shapes), not its rows.
   *
   * @throws FeatureFileException when the file is missing or malformed
   */
  public static FeatureRows open(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new FeatureFileException(file, "feature file not found");
    }
    String name = file.getFileName().toString();
    if (name.endsWith(".pt")) {
      return openPt(file);
    }
    if (name.endsWith(".h5")) {
      return openH5(file);
    }
    FeatureFile.Header header = FeatureFile.open(file);
    try {
      FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
      return new FeatureRows(file, header.rows(), header.dim(), header.metadata(), ch, header.featuresOffset(), null,
          null, header::coordinates);
    } catch (IOException e) {
      throw new FeatureFileException(file, "cannot be opened: " + e.getMessage());
    }
  }

  private static FeatureRows openH5(Path file) {
    HdfFile hdf = null;
    try {
      hdf = new HdfFile(file);
      Node f = hdf.getChildren().get("features");
      if (!(f instanceof Dataset features)) {
        throw new FeatureFileException(file, "no dataset 'features' in this HDF5 file (found: "
            + String.join(", ", hdf.getChildren().keySet()) + "); a CLAM or TRIDENT feature file holds N x D"
            + " features in 'features' and N x 2 coordinates in 'coords'");
      }
      int[] fd = features.getDimensions();
      if (fd.length == 3 && fd[0] == 1) {
        throw new FeatureFileException(file, "'features' is 1 x " + fd[1] + " x " + fd[2]
            + "; squeeze it to N x D (h['features'] = h['features'][0])");
      }
      if (fd.length != 2 || fd[0] < 1 || fd[1] < 1) {
        throw new FeatureFileException(file, "'features' has shape " + java.util.Arrays.toString(fd)
            + ", expected N x D");
      }
      Node c = hdf.getChildren().get("coords");
      if (!(c instanceof Dataset coords)) {
        throw new FeatureFileException(file, "no dataset 'coords' beside 'features' (found: "
            + String.join(", ", hdf.getChildren().keySet()) + ")");
      }
      int[] cd = coords.getDimensions();
      if (cd.length != 2 || cd[1] != 2 || cd[0] != fd[0]) {
        throw new FeatureFileException(file, "'coords' has shape " + java.util.Arrays.toString(cd) + " but 'features' has "
            + fd[0] + " rows: expected " + fd[0] + " x 2");
      }
      int n = fd[0];
      return new FeatureRows(file, n, fd[1], Map.of("source", "h5"), null, 0, hdf, features,
          () -> coordinates(file, coords, n));
    } catch (FeatureFileException e) {
      if (hdf != null) {
        hdf.close();
      }
      throw e;
    } catch (RuntimeException e) {
      if (hdf != null) {
        hdf.close();
      }
      throw new FeatureFileException(file, "cannot be read as HDF5: " + e.getMessage());
    }
  }

  /**
   * A {@code .pt}'s coordinates: its dict's {@code coords}; else the {@code coords} of CLAM's
   * sibling {@code ../h5_files/<id>.h5} (CLAM keeps them there) when it exists with N rows; else
   * each row's index as x and 0 as y, which is all that training on features needs.
   */
  private static FeatureRows openPt(Path file) {
    PtFile pt = PtFile.open(file);
    String name = file.getFileName().toString();
    Path parent = file.toAbsolutePath().getParent();
    Path h5 = parent.getParent() == null ? null
        : parent.getParent().resolve("h5_files").resolve(name.substring(0, name.length() - 3) + ".h5");
    int n = pt.rows();
    java.util.function.Supplier<int[]> xy;
    String source;
    if (pt.hasCoordinates()) {
      xy = pt::coordinates;
      source = "pt";
    } else if (h5 != null && Files.isRegularFile(h5)) {
      xy = () -> siblingCoordinates(file, h5, n);
      source = h5.toString();
    } else {
      xy = () -> {
        int[] rowIndex = new int[2 * n];
        for (int r = 0; r < n; r++) {
          rowIndex[2 * r] = r;
        }
        return rowIndex;
      };
      source = "row-index";
    }
    return new FeatureRows(file, n, pt.dim(), Map.of("source", "pt", "dtype", pt.dtype(), "coords", source), null, 0,
        null, null, xy, pt);
  }

  private static int[] siblingCoordinates(Path file, Path h5, int n) {
    try (HdfFile hdf = new HdfFile(h5)) {
      if (!(hdf.getChildren().get("coords") instanceof Dataset coords)) {
        throw new FeatureFileException(h5, "no dataset 'coords' for " + file.getFileName());
      }
      int[] cd = coords.getDimensions();
      if (cd.length != 2 || cd[1] != 2 || cd[0] != n) {
        throw new FeatureFileException(h5, "'coords' has shape " + java.util.Arrays.toString(cd) + " but " + file
            + " has " + n + " rows: expected " + n + " x 2");
      }
      return coordinates(h5, coords, n);
    } catch (FeatureFileException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new FeatureFileException(h5, "cannot be read as HDF5: " + e.getMessage());
    }
  }

  private static int[] coordinates(Path file, Dataset coords, int n) {
    int[] xy = new int[n * 2];
    Object data = coords.getData();
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < 2; k++) {
        long v = switch (data) {
          case int[][] a -> a[i][k];
          case long[][] a -> a[i][k];
          case float[][] a -> (long) a[i][k];
          case double[][] a -> (long) a[i][k];
          default -> throw new FeatureFileException(file, "'coords' holds " + data.getClass().getSimpleName()
              + ", expected integers");
        };
        xy[2 * i + k] = Math.toIntExact(v);
      }
    }
    return xy;
  }

  /** The file. */
  public Path file() {
    return file;
  }

  /** N, the patches. */
  public int rows() {
    return rows;
  }

  /** D, features per patch. */
  public int dim() {
    return dim;
  }

  /**
   * The file's metadata ({@code .bpf}; an {@code .h5} has {@code source=h5}; a {@code .pt} has
   * {@code source=pt}, {@code dtype} and {@code coords}: {@code pt}, the sibling {@code .h5} read,
   * or {@code row-index}).
   */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** The patches' level-0 x,y, interleaved, in row order; read from the file on each call. */
  public int[] coordinates() {
    return coordinates.get();
  }

  /**
   * Reads rows {@code rowIndex[from..to)} as float32 (native order) into {@code target}, row
   * {@code rowIndex[i]} at byte {@code i * D * 4}.
   */
  public void read(int[] rowIndex, int from, int to, ByteBuffer target) {
    if (channel != null && ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      throw new UnsupportedOperationException(file + ": .bpf rows are read as native floats, and this host is big-endian");
    }
    ByteBuffer out = target.duplicate().order(ByteOrder.nativeOrder());
    int rowBytes = dim * 4;
    try {
      for (int i = from; i < to; i++) {
        int r = rowIndex[i];
        if (r < 0 || r >= rows) {
          throw new FeatureFileException(file, "row " + r + " asked for, the file has " + rows);
        }
        out.limit(Math.multiplyExact(i + 1, rowBytes)).position(i * rowBytes);
        if (pt != null) {
          pt.readRow(r, out);
        } else if (channel != null) { // the file's little-endian floats are the native order on x86 and arm64
          FeatureFile.readFully(channel, out.slice(), featuresOffset + (long) r * rowBytes, file);
        } else {
          Object row = features.getData(new long[] {r, 0}, new int[] {1, dim});
          switch (row) {
            case float[][] a -> out.asFloatBuffer().put(a[0]);
            case double[][] a -> {
              var fb = out.asFloatBuffer();
              for (double v : a[0]) {
                fb.put((float) v);
              }
            }
            default -> throw new FeatureFileException(file, "'features' holds " + row.getClass().getSimpleName()
                + ", expected float32 or float64");
          }
        }
      }
    } catch (IOException e) {
      throw new FeatureFileException(file, "cannot read rows: " + e.getMessage());
    }
  }

  @Override
  public void close() {
    try {
      if (channel != null) {
        channel.close();
      }
    } catch (IOException ignored) {
      // read-only: nothing is lost
    }
    if (hdf != null) {
      hdf.close();
    }
    if (pt != null) {
      pt.close();
    }
  }
}
