package io.bagpipe.slide.synth;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A synthetic whole-slide data set in the layout Bagpipe reads:
 *
 * <pre>
 *   OUT/slides/synth_NNN.tif   pyramidal, tiled (256), JPEG TIFF; OpenSlide: generic-tiff
 *   OUT/coords/synth_NNN.csv   x,y header, then the level-0 corners of tissue patches
 *   OUT/manifest.csv           slide_id,label,fold (labels alternate 0/1; folds stratified)
 *   OUT/dataset.json           the settings and, per slide, its tissue and tumour patch counts
 * </pre>
 *
 * Every file is a pure function of the settings: the same seed gives the same
 * bytes. Slides are written in parallel, each in memory bounded by its width;
 * {@code dataset.json} is written last and marks the set complete, so
 * {@link #ensure} reuses a complete set with the same settings and a killed
 * writer leaves nothing that passes for complete.
 */
public final class SyntheticDataSet {

  private static final String MARKER = "dataset.json";

  private SyntheticDataSet() {}

  /** One written slide. {@code tumourPatches} is 0 on negatives (their dense patches are benign). */
  public record SlideSummary(String id, int label, int fold, int width, int height, int tissuePatches,
      int densePatches, int tumourPatches, long bytes) {}

  /** What {@link #ensure} found or wrote. */
  public record Result(Path dir, List<SlideSummary> slides, boolean reused) {
    /** Total size of the slide files. */
    public long bytes() {
      return slides.stream().mapToLong(SlideSummary::bytes).sum();
    }
  }

  /**
   * Reuses {@code s.out()} when it holds a complete data set written with the same
   * settings, else writes one there; {@code progress} gets a line per slide.
   *
   * @throws IllegalArgumentException when the folder holds files {@code synth} did not write
   */
  public static Result ensure(SynthSettings s, Consumer<String> progress) {
    Path out = s.out();
    Path marker = out.resolve(MARKER);
    try {
      if (Files.isRegularFile(marker)) {
        List<SlideSummary> existing = readMarker(marker, s.fingerprint());
        if (existing != null && allPresent(out, existing)) {
          return new Result(out, existing, true);
        }
      } else if (Files.isDirectory(out)) {
        try (Stream<Path> entries = Files.list(out)) {
          if (entries.anyMatch(p -> !p.getFileName().toString().matches("slides|coords|manifest\\.csv"))) {
            throw new IllegalArgumentException("refusing to write a synthetic data set into " + out
                + ": it holds files that bagpipe synth did not write; choose an empty or new folder (--out)");
          }
        }
      }
      return new Result(out, write(s, progress), false);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the synthetic data set in " + out + ": " + e.getMessage(), e);
    }
  }

  private static List<SlideSummary> write(SynthSettings s, Consumer<String> progress) throws IOException {
    Path out = s.out();
    Files.deleteIfExists(out.resolve(MARKER));
    Path slides = Files.createDirectories(out.resolve("slides"));
    Path coords = Files.createDirectories(out.resolve("coords"));
    int[] folds = folds(s);
    int threads = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), s.slides()));
    List<SlideSummary> done = new ArrayList<>();
    try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
      List<Future<SlideSummary>> jobs = new ArrayList<>();
      for (int i = 0; i < s.slides(); i++) {
        int index = i;
        jobs.add(pool.submit(() -> {
          long t0 = System.nanoTime();
          SlideSummary summary = writeSlide(s, index, folds[index], slides, coords);
          progress.accept(String.format("%s  label %d  fold %d  %dx%d  %d tissue patches (%d %s)  %.1f MB  %.1f s",
              summary.id(), summary.label(), summary.fold(), summary.width(), summary.height(), summary.tissuePatches(),
              summary.densePatches(), summary.label() == 1 ? "tumour" : "lymphoid, benign", summary.bytes() / 1e6,
              (System.nanoTime() - t0) / 1e9));
          return summary;
        }));
      }
      for (Future<SlideSummary> job : jobs) {
        done.add(job.get());
      }
    } catch (ExecutionException e) {
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      throw new IllegalStateException("writing a synthetic slide failed: " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while writing slides", e);
    }
    removeStale(slides, coords, done);
    StringBuilder manifest = new StringBuilder("slide_id,label,fold\n");
    for (SlideSummary d : done) {
      manifest.append(d.id()).append(',').append(d.label()).append(',').append(d.fold()).append('\n');
    }
    writeAtomically(out.resolve("manifest.csv"), manifest.toString());
    writeAtomically(out.resolve(MARKER), marker(s, done));
    return done;
  }

  /**
   * Slide i: label i % 2; its own seed and tissue coverage, drawn independently of the label; with
   * {@code tumour-patches} set, its count of dense grid patches, drawn the same way for both labels.
   */
  static SlideRecipe recipe(SynthSettings s, int i) {
    long seed = Noise.hash(s.seed(), i);
    double coverage = s.tissueMin() + new SplittableRandom(Noise.hash(s.seed(), i, 1)).nextDouble()
        * (s.tissueMax() - s.tissueMin());
    int counted = 0;
    if (s.countedTumour()) {
      counted = s.tumourPatchesMin()
          + new SplittableRandom(Noise.hash(s.seed(), i, 2)).nextInt(s.tumourPatchesMax() - s.tumourPatchesMin() + 1);
    }
    return new SlideRecipe(String.format("synth_%03d", i), i % 2, s.width(), s.height(), seed, coverage,
        s.tumourFraction(), s.patchSize(), counted);
  }

  private static SlideSummary writeSlide(SynthSettings s, int i, int fold, Path slides, Path coords) throws IOException {
    SlideRecipe recipe = recipe(s, i);
    TissueMap map = new TissueMap(recipe);
    TiffOptions options = new TiffOptions(256, s.jpegQuality(), s.micronsPerPixel(),
        "Bagpipe synthetic slide " + recipe.id() + " label " + recipe.label());
    PyramidalTiffWriter.WrittenTiff tiff =
        PyramidalTiffWriter.write(slides.resolve(recipe.id() + ".tif"), s.width(), s.height(), options, new TissuePainter(map));
    StringBuilder csv = new StringBuilder("x,y\n");
    for (TissueMap.Patch p : map.patches()) {
      csv.append(p.x()).append(',').append(p.y()).append('\n');
    }
    writeAtomically(coords.resolve(recipe.id() + ".csv"), csv.toString());
    int dense = map.densePatches();
    return new SlideSummary(recipe.id(), recipe.label(), fold, s.width(), s.height(), map.patches().size(), dense,
        recipe.positive() ? dense : 0, tiff.bytes());
  }

  /** Per class, a seeded shuffle dealt round-robin into folds 1..k. */
  static int[] folds(SynthSettings s) {
    int[] fold = new int[s.slides()];
    for (int label = 0; label < 2; label++) {
      List<Integer> members = new ArrayList<>();
      for (int i = label; i < s.slides(); i += 2) {
        members.add(i);
      }
      SplittableRandom rnd = new SplittableRandom(Noise.hash(s.seed(), 0xF01D, label));
      for (int j = members.size() - 1; j > 0; j--) {
        int k = rnd.nextInt(j + 1);
        Integer t = members.get(j);
        members.set(j, members.get(k));
        members.set(k, t);
      }
      for (int j = 0; j < members.size(); j++) {
        fold[members.get(j)] = j % s.folds() + 1;
      }
    }
    return fold;
  }

  private static void removeStale(Path slides, Path coords, List<SlideSummary> keep) throws IOException {
    Set<String> names = new HashSet<>();
    for (SlideSummary d : keep) {
      names.add(d.id() + ".tif");
      names.add(d.id() + ".csv");
    }
    for (Path dir : List.of(slides, coords)) {
      try (Stream<Path> files = Files.list(dir)) {
        for (Path f : files.toList()) {
          String n = f.getFileName().toString();
          if (n.startsWith("synth_") && !names.contains(n)) {
            Files.delete(f);
          }
        }
      }
    }
  }

  private static void writeAtomically(Path target, String text) throws IOException {
    Path part = target.resolveSibling(target.getFileName() + ".part");
    Files.writeString(part, text, StandardCharsets.UTF_8);
    Files.move(part, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static String marker(SynthSettings s, List<SlideSummary> slides) {
    StringBuilder j = new StringBuilder("{\n  \"generator\": \"bagpipe synth\",\n  \"settings\": \"")
        .append(s.fingerprint()).append("\",\n  \"slides\": [\n");
    for (int i = 0; i < slides.size(); i++) {
      SlideSummary d = slides.get(i);
      j.append(String.format(java.util.Locale.ROOT,
          "    {\"id\": \"%s\", \"label\": %d, \"fold\": %d, \"width\": %d, \"height\": %d, \"tissue_patches\": %d,"
              + " \"dense_patches\": %d, \"tumour_patches\": %d, \"bytes\": %d}%s%n",
          d.id(), d.label(), d.fold(), d.width(), d.height(), d.tissuePatches(), d.densePatches(), d.tumourPatches(),
          d.bytes(), i + 1 < slides.size() ? "," : ""));
    }
    return j.append("  ]\n}\n").toString();
  }

  /** The slides a marker lists when it was written with {@code fingerprint}, else null. */
  private static List<SlideSummary> readMarker(Path marker, String fingerprint) throws IOException {
    String text = Files.readString(marker);
    if (!text.contains("\"settings\": \"" + fingerprint + "\"")) {
      return null;
    }
    List<SlideSummary> out = new ArrayList<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "\\{\"id\": \"([^\"]+)\", \"label\": (\\d+), \"fold\": (\\d+), \"width\": (\\d+), \"height\": (\\d+),"
            + " \"tissue_patches\": (\\d+), \"dense_patches\": (\\d+), \"tumour_patches\": (\\d+), \"bytes\": (\\d+)\\}")
        .matcher(text);
    while (m.find()) {
      out.add(new SlideSummary(m.group(1), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)),
          Integer.parseInt(m.group(4)), Integer.parseInt(m.group(5)), Integer.parseInt(m.group(6)),
          Integer.parseInt(m.group(7)), Integer.parseInt(m.group(8)), Long.parseLong(m.group(9))));
    }
    return out;
  }

  private static boolean allPresent(Path out, List<SlideSummary> slides) throws IOException {
    if (slides.isEmpty() || !Files.isRegularFile(out.resolve("manifest.csv"))) {
      return false;
    }
    for (SlideSummary d : slides) {
      Path tif = out.resolve("slides").resolve(d.id() + ".tif");
      if (!Files.isRegularFile(tif) || Files.size(tif) != d.bytes()
          || !Files.isRegularFile(out.resolve("coords").resolve(d.id() + ".csv"))) {
        return false;
      }
    }
    return true;
  }
}
