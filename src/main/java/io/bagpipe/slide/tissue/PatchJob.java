package io.bagpipe.slide.tissue;

import io.bagpipe.slide.SlideSettings;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * Patches many slides on a pool of threads: {@code <out>/coords/<id>.csv},
 * {@code <out>/thumbnails/<id>.png} and {@code <out>/summary.csv}. A slide that
 * fails (missing, not a slide, corrupt, no microns per pixel, no tissue) is a
 * {@code failed} row with its error and the others go on; a slide whose coordinate
 * file is already complete with the same settings is a {@code skipped} row and is
 * not opened. The summary is written row by row under a {@code .part} name and
 * renamed at the end. Memory per thread is one slide's mask (about 1/64 of its side).
 */
public final class PatchJob {

  private PatchJob() {}

  /** One slide to patch; {@code path} null when no file was found (the row then fails with {@code missing}). */
  public record Input(String id, Path path, String missing) {}

  /** Outcome of one slide, as its summary row. */
  public record Row(String id, String status, int patches, double tissueFraction, double slideMpp, int level,
      double seconds, String error) {
    public boolean failed() {
      return status.equals("failed");
    }

    String csv() {
      return String.join(",", id, status, patches < 0 ? "" : Integer.toString(patches),
          Double.isNaN(tissueFraction) ? "" : String.format(Locale.ROOT, "%.4f", tissueFraction),
          Double.isNaN(slideMpp) ? "" : String.format(Locale.ROOT, "%s", slideMpp), level < 0 ? "" : Integer.toString(level),
          String.format(Locale.ROOT, "%.2f", seconds), quote(error));
    }
  }

  /** Summary CSV header. */
  public static final String SUMMARY_HEADER = "slide_id,status,patches,tissue_fraction,slide_mpp,seg_level,seconds,error";

  /**
   * Patches {@code inputs} with {@code threads} threads; {@code onRow} sees each row as it
   * is done (from pool threads, one at a time). Returns the rows in input order.
   */
  public static List<Row> run(List<Input> inputs, Path out, TissueSettings s, SlideSettings slides, int threads,
      Consumer<Row> onRow) throws IOException, InterruptedException {
    Path coords = Files.createDirectories(out.resolve("coords"));
    Path thumbs = Files.createDirectories(out.resolve("thumbnails"));
    Path summary = out.resolve("summary.csv");
    Path part = out.resolve("summary.csv.part");
    try (BufferedWriter w = Files.newBufferedWriter(part, StandardCharsets.UTF_8);
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, threads))) {
      w.write(SUMMARY_HEADER + "\n");
      Object lock = new Object();
      List<Future<Row>> jobs = inputs.stream().map(in -> pool.submit(() -> {
        Row row = one(in, coords, thumbs, s, slides);
        synchronized (lock) {
          w.write(row.csv() + "\n");
          w.flush();
          onRow.accept(row);
        }
        return row;
      })).toList();
      List<Row> rows = new java.util.ArrayList<>(inputs.size());
      for (Future<Row> f : jobs) {
        try {
          rows.add(f.get());
        } catch (java.util.concurrent.ExecutionException e) {
          throw new IOException("writing the summary failed: " + e.getCause(), e.getCause());
        }
      }
      w.close();
      Files.move(part, summary, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      return rows;
    }
  }

  /** Patches one slide; never throws: a failure is a row. */
  static Row one(Input in, Path coords, Path thumbs, TissueSettings s, SlideSettings slides) {
    long t0 = System.nanoTime();
    if (in.path() == null) {
      return new Row(in.id(), "failed", -1, Double.NaN, Double.NaN, -1, 0, in.missing());
    }
    try {
      Path csv = coords.resolve(in.id() + ".csv");
      if (SlidePatcher.isDone(csv, s)) {
        return new Row(in.id(), "skipped", countRows(csv), Double.NaN, Double.NaN, -1, seconds(t0),
            "");
      }
      SlidePatcher.Result r = SlidePatcher.patch(in.path(), in.id(), coords, thumbs, s, slides);
      return new Row(in.id(), "ok", r.patches(), r.tissueFraction(), r.slideMpp(), r.level(), seconds(t0), "");
    } catch (Exception e) {
      String msg = e.getMessage() == null ? e.toString() : e.getMessage();
      return new Row(in.id(), "failed", -1, Double.NaN, Double.NaN, -1, seconds(t0), msg);
    }
  }

  private static int countRows(Path csv) throws IOException {
    try (var lines = Files.lines(csv, StandardCharsets.UTF_8)) {
      return (int) lines.filter(l -> !l.isBlank() && !l.startsWith("#") && !l.startsWith("x")).count();
    }
  }

  private static double seconds(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

  private static String quote(String s) {
    if (s == null || s.isEmpty()) {
      return "";
    }
    String one = s.replace('\n', ' ').replace('\r', ' ');
    return one.contains(",") || one.contains("\"") ? "\"" + one.replace("\"", "\"\"") + "\"" : one;
  }
}
