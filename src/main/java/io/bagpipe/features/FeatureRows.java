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
 * (N x 2). Rows are read on demand, a bag's rows at a time, so memory holds the bag, not the
 * slide. A CLAM {@code .pt} (a pickled torch tensor) is refused with the Python lines that convert
 * it. Every problem is a {@link FeatureFileException} naming the file. Not thread-safe.
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

  private FeatureRows(Path file, int rows, int dim, Map<String, String> metadata, FileChannel channel,
      long featuresOffset, HdfFile hdf, Dataset features, java.util.function.Supplier<int[]> coordinates) {
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
        + "; run bagpipe features, or point bagpipe.data.features at CLAM/TRIDENT .h5 files");
  }

  /**
   * Opens {@code file}: reads its header (an {@code .h5}'s dataset shapes), not its rows.
   *
   * @throws FeatureFileException when the file is missing, malformed, or a {@code .pt}
   */
  public static FeatureRows open(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new FeatureFileException(file, "feature file not found");
    }
    String name = file.getFileName().toString();
    if (name.endsWith(".pt")) {
      throw new FeatureFileException(file, "CLAM's .pt feature files (pickled torch tensors) are not read; convert"
          + " them to .h5 next to the CLAM patch file with:\n"
          + "  import torch, h5py\n"
          + "  f = torch.load('" + name + "').float().numpy()\n"
          + "  with h5py.File('" + name.substring(0, name.length() - 3) + ".h5', 'w') as h:"
          + " h['features'] = f; h['coords'] = h5py.File('<patches>/" + name.substring(0, name.length() - 3)
          + ".h5')['coords'][:]");
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

  /** The file's metadata ({@code .bpf}; an {@code .h5} has {@code source=h5}). */
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
        if (channel != null) { // the file's little-endian floats are the native order on x86 and arm64
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
  }
}
