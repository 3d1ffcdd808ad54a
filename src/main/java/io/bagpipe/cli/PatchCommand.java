package io.bagpipe.cli;

import com.typesafe.config.Config;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.slide.tissue.PatchJob;
import io.bagpipe.slide.tissue.TissueSettings;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe patch}: finds tissue on every slide of a folder (or of a manifest)
 * and writes {@code coords/<id>.csv}, a thumbnail per slide and {@code summary.csv}
 * into the output folder; options override {@code bagpipe.patch.*}. Exit code 1 when
 * any slide failed (each is named on stderr and in the summary), 0 otherwise.
 */
@Command(name = "patch", mixinStandardHelpOptions = true,
    description = "Find tissue on slides and write patch coordinates at a target magnification.")
final class PatchCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Option(names = "--slides", paramLabel = "DIR", required = true,
      description = "Folder of slide files (extensions: bagpipe.data.slide-extensions).")
  Path slides;

  @Option(names = "--manifest", paramLabel = "FILE",
      description = "Patch only the slide ids in the first column of this CSV (header optional).")
  Path manifest;

  @Option(names = "--out", paramLabel = "DIR", required = true,
      description = "Output folder: coords/, thumbnails/, summary.csv.")
  Path out;

  @Option(names = "--threads", paramLabel = "N", description = "Slides patched at once (default: the core count).")
  Integer threads;

  @Option(names = "--patch-size", paramLabel = "PX", description = "Patch side at the target mpp (bagpipe.patch.patch-size).")
  Integer patchSize;

  @Option(names = "--target-mpp", paramLabel = "UM", description = "Microns per pixel of the patches (bagpipe.patch.target-mpp).")
  Double targetMpp;

  @Option(names = "--assume-mpp", paramLabel = "UM",
      description = "Level-0 microns per pixel of slides that do not say (bagpipe.patch.assume-mpp).")
  Double assumeMpp;

  @Option(names = "--min-tissue", paramLabel = "F",
      description = "Least tissue fraction of a kept patch (bagpipe.patch.min-tissue-fraction).")
  Double minTissue;

  @Override
  public Integer call() throws IOException, InterruptedException {
    List<String> sets = new ArrayList<>(configOptions.overrides);
    if (patchSize != null) {
      sets.add("bagpipe.patch.patch-size=" + patchSize);
    }
    if (targetMpp != null) {
      sets.add("bagpipe.patch.target-mpp=" + targetMpp);
    }
    if (assumeMpp != null) {
      sets.add("bagpipe.patch.assume-mpp=" + assumeMpp);
    }
    if (minTissue != null) {
      sets.add("bagpipe.patch.min-tissue-fraction=" + minTissue);
    }
    Config config = ConfigOptions.load(configOptions.configFile, sets);
    TissueSettings settings = TissueSettings.fromConfig(config.getConfig("bagpipe.patch"));
    SlideSettings slide = SlideSettings.fromConfig(config.getConfig("bagpipe.slide"));
    List<String> extensions = config.getStringList("bagpipe.data.slide-extensions");
    if (threads != null && threads < 1) {
      throw new IllegalArgumentException("--threads must be positive, got " + threads);
    }
    int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    List<PatchJob.Input> inputs = manifest == null ? listSlides(slides, extensions) : fromManifest(manifest, slides, extensions);
    if (inputs.isEmpty()) {
      throw new IllegalArgumentException("no slide files in " + slides + " (looked for ." + String.join(", .", extensions)
          + "; bagpipe.data.slide-extensions)");
    }
    PrintStream err = System.err;
    err.printf(Locale.ROOT, "patch: %d slides from %s into %s: %d px patches at %s um/px, %d thread(s)%n", inputs.size(),
        slides.toAbsolutePath(), out.toAbsolutePath(), settings.patchSize(), settings.targetMpp(), n);
    Progress progress = new Progress(err, System.console() != null, inputs.size());
    long t0 = System.nanoTime();
    List<PatchJob.Row> rows = PatchJob.run(inputs, out, settings, slide, n, progress::row);
    progress.end();
    long ok = rows.stream().filter(r -> r.status().equals("ok")).count();
    long skipped = rows.stream().filter(r -> r.status().equals("skipped")).count();
    long failed = rows.stream().filter(PatchJob.Row::failed).count();
    long patches = rows.stream().filter(r -> !r.failed()).mapToLong(PatchJob.Row::patches).sum();
    err.printf(Locale.ROOT, "patch: %d patched, %d skipped (done before), %d failed; %d patches; %.1f s; summary in %s%n",
        ok, skipped, failed, patches, (System.nanoTime() - t0) / 1e9, out.resolve("summary.csv").toAbsolutePath());
    err.printf(Locale.ROOT, "patch: train on them with --set bagpipe.data.coords=%s --set bagpipe.plan.patch-size=%d"
        + " --set bagpipe.plan.target-mpp=%s%n", out.resolve("coords").toAbsolutePath(), settings.patchSize(),
        settings.targetMpp());
    return failed > 0 ? 1 : 0;
  }

  /** Slide files directly in {@code dir} with one of {@code extensions}; the id is the name without it. */
  static List<PatchJob.Input> listSlides(Path dir, List<String> extensions) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException("slide folder not found: " + dir);
    }
    Map<String, PatchJob.Input> byId = new LinkedHashMap<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.sorted().toList()) {
        String name = f.getFileName().toString();
        int dot = name.lastIndexOf('.');
        if (dot <= 0 || !Files.isRegularFile(f) || !extensions.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT))) {
          continue;
        }
        String id = name.substring(0, dot);
        PatchJob.Input previous = byId.putIfAbsent(id, new PatchJob.Input(id, f, null));
        if (previous != null) {
          byId.put(id, new PatchJob.Input(id, null, "two slide files for id '" + id + "': " + previous.path()
              .getFileName() + " and " + name + "; keep one"));
        }
      }
    }
    return new ArrayList<>(byId.values());
  }

  /**
   * The ids in the first column of {@code csv} (a first line whose first field is not a
   * file name of the slides is a header; blank and {@code #} lines skipped), each found in
   * {@code dir} by {@code extensions}; an id with no file becomes a failing input.
   */
  static List<PatchJob.Input> fromManifest(Path csv, Path dir, List<String> extensions) throws IOException {
    if (!Files.isRegularFile(csv)) {
      throw new IllegalArgumentException("manifest not found: " + csv);
    }
    List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
    List<PatchJob.Input> out = new ArrayList<>();
    Map<String, Integer> seen = new LinkedHashMap<>();
    boolean first = true;
    for (int i = 0; i < lines.size(); i++) {
      String line = (i == 0 ? lines.get(0).replace("\uFEFF", "") : lines.get(i)).trim();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      String id = line.split(",", -1)[0].trim();
      if (first && (id.equalsIgnoreCase("slide_id") || id.equalsIgnoreCase("slide"))) {
        first = false;
        continue;
      }
      first = false;
      if (id.isEmpty() || id.contains("/") || id.contains("\\") || id.equals(".") || id.equals("..")) {
        throw new IllegalArgumentException(csv + " line " + (i + 1) + ": slide id '" + id + "' must be a plain file name");
      }
      Integer previous = seen.putIfAbsent(id, i + 1);
      if (previous != null) {
        throw new IllegalArgumentException(csv + " line " + (i + 1) + ": duplicate slide id '" + id
            + "' (first on line " + previous + ")");
      }
      Path found = null;
      for (String ext : extensions) {
        Path p = dir.resolve(id + "." + ext);
        if (Files.isRegularFile(p)) {
          found = p;
          break;
        }
      }
      out.add(found != null ? new PatchJob.Input(id, found, null) : new PatchJob.Input(id, null,
          "no slide file " + dir.resolve(id) + ".{" + String.join(",", extensions) + "} (" + csv + " line " + (i + 1) + ")"));
    }
    return out;
  }

  /** A progress bar over slides on a terminal, a line per tenth otherwise; failures as lines. */
  private static final class Progress {
    private static final int BAR = 28;
    private final PrintStream err;
    private final boolean terminal;
    private final int total;
    private final long t0 = System.nanoTime();
    private int done;
    private int failed;
    private int lastDecile = -1;

    Progress(PrintStream err, boolean terminal, int total) {
      this.err = err;
      this.terminal = terminal;
      this.total = total;
    }

    void row(PatchJob.Row r) {
      done++;
      if (r.failed()) {
        failed++;
        if (terminal) {
          err.print("\r\033[K");
        }
        err.println("patch: slide '" + r.id() + "' failed: " + r.error());
      }
      int decile = done * 10 / total;
      if (!terminal && decile == lastDecile) {
        return;
      }
      lastDecile = decile;
      double s = (System.nanoTime() - t0) / 1e9;
      int filled = BAR * done / total;
      String text = String.format(Locale.ROOT, "patch [%s%s] %d/%d slides  %d failed  %.1f slides/s  ETA %s",
          "#".repeat(filled), ".".repeat(BAR - filled), done, total, failed, done / s,
          done == total ? "0:00" : clock(s / done * (total - done)));
      if (terminal) {
        err.print("\r\033[K" + text);
      } else {
        err.println(text);
      }
      err.flush();
    }

    void end() {
      if (terminal) {
        err.println();
      }
    }

    private static String clock(double seconds) {
      long s = Math.round(seconds);
      return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format("%d:%02d", s / 60, s % 60);
    }
  }
}
