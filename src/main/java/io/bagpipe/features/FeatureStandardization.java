package io.bagpipe.features;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Per-dimension standardisation of {@code .bpf} feature files: (x - mean) / std, with mean and
 * std measured over every row of a set of files (e.g. the training slides'). Features of an
 * untrained or foreign encoder can be tiny (values around 0.04 that differ by 0.001-0.01 within
 * a slide); an aggregator with PyTorch's default initialisation then barely moves under Adam,
 * so standardising them is what makes a frozen encoder's features trainable. Files are read and
 * written {@value #CHUNK_ROWS} rows at a time: memory holds a chunk and 2 x D sums.
 */
public final class FeatureStandardization {

  static final int CHUNK_ROWS = 4096;

  private FeatureStandardization() {}

  /**
   * Per-dimension mean and standard deviation (population) of feature rows.
   *
   * @param mean D means
   * @param std D standard deviations; a dimension that never varies gets 1, so it maps to 0
   * @param rows rows measured
   */
  public record Stats(float[] mean, float[] std, long rows) {}

  /** Measures every row of {@code files}, which must all have the same D. */
  public static Stats measure(List<Path> files) {
    if (files.isEmpty()) {
      throw new IllegalArgumentException("no feature files to measure");
    }
    double[] sum = null;
    double[] sumSq = null;
    long rows = 0;
    int dim = 0;
    for (Path file : files) {
      FeatureFile.Header h = FeatureFile.open(file);
      if (sum == null) {
        dim = h.dim();
        sum = new double[dim];
        sumSq = new double[dim];
      } else if (h.dim() != dim) {
        throw new IllegalArgumentException(file + ": D = " + h.dim() + ", but " + files.get(0) + " has D = " + dim);
      }
      double[] s = sum;
      double[] q = sumSq;
      int d = dim;
      forEachChunk(h, (x, n) -> {
        for (int i = 0; i < n * d; i++) {
          s[i % d] += x[i];
          q[i % d] += (double) x[i] * x[i];
        }
      });
      rows += h.rows();
    }
    float[] mean = new float[dim];
    float[] std = new float[dim];
    for (int j = 0; j < dim; j++) {
      double m = sum[j] / rows;
      double var = Math.max(0, sumSq[j] / rows - m * m);
      mean[j] = (float) m;
      std[j] = var > 1e-20 ? (float) Math.sqrt(var) : 1f;
    }
    return new Stats(mean, std, rows);
  }

  /**
   * Writes {@code out} (through {@code out.part}): {@code in}'s coordinates and metadata plus
   * {@code standardized = <rows measured>}, its features standardised with {@code stats}.
   */
  public static void write(Path in, Path out, Stats stats) throws IOException {
    FeatureFile.Header h = FeatureFile.open(in);
    if (h.dim() != stats.mean().length) {
      throw new IllegalArgumentException(in + ": D = " + h.dim() + ", the statistics have D = " + stats.mean().length);
    }
    Map<String, String> meta = new LinkedHashMap<>(h.metadata());
    meta.put("standardized", String.format(Locale.ROOT, "per-dimension mean and std of %d rows", stats.rows()));
    try (FeatureFile.Writer w = FeatureFile.create(out, h.coordinates(), h.dim(), meta)) {
      int d = h.dim();
      forEachChunk(h, (x, n) -> {
        for (int i = 0; i < n * d; i++) {
          x[i] = (x[i] - stats.mean()[i % d]) / stats.std()[i % d];
        }
        try {
          w.append(x, n);
        } catch (IOException e) {
          throw new UncheckedIOException(out + ": cannot write", e);
        }
      });
      w.finish();
    }
  }

  private interface Chunk {
    void accept(float[] rows, int n);
  }

  private static void forEachChunk(FeatureFile.Header h, Chunk chunk) {
    int d = h.dim();
    float[] x = new float[CHUNK_ROWS * d];
    ByteBuffer b = ByteBuffer.allocate(CHUNK_ROWS * d * 4).order(ByteOrder.LITTLE_ENDIAN);
    try (FileChannel ch = FileChannel.open(h.file(), StandardOpenOption.READ)) {
      for (int from = 0; from < h.rows(); from += CHUNK_ROWS) {
        int n = Math.min(CHUNK_ROWS, h.rows() - from);
        b.clear().limit(n * d * 4);
        FeatureFile.readFully(ch, b, h.featuresOffset() + (long) from * d * 4, h.file());
        b.flip().asFloatBuffer().get(x, 0, n * d);
        chunk.accept(x, n);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(h.file() + ": cannot read its features", e);
    }
  }
}
