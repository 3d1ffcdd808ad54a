package io.bagpipe.predict;

import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.model.BagOutput;
import io.bagpipe.model.BagStream;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideSettings;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Predicts slides with a trained model on several devices at once and writes what it finds:
 *
 * <pre>
 *   OUT/predictions.csv        slide_id, p_&lt;class&gt; per class, predicted, label (empty when unknown), patches;
 *                              classes by the run's class map (manifest names, or 0 .. C-1)
 *   OUT/errors.csv             slide_id, error: the slides that could not be predicted
 *   OUT/attention/&lt;id&gt;.csv    x, y, score: each patch's level-0 corner and pooling weight
 *   OUT/heatmaps/&lt;id&gt;.png     the scores over a thumbnail of the slide
 * </pre>
 *
 * One thread per device holds its own replica ({@link SlidePredictor}) and takes the next slide
 * from a shared counter, so slides spread over the devices as they finish. A slide that fails
 * (unreadable slide, missing or bad coordinate file, patch outside the slide) goes to
 * {@code errors.csv} with its reason, and the others go on. Rows of both CSVs are written and
 * flushed as slides finish, and per-slide files appear under their name only once complete, so a
 * later failure or a kill loses no finished slide. A failure to build a replica (a checkpoint
 * that does not fit) ends the whole prediction.
 */
public final class Prediction {

  private Prediction() {}

  /**
   * A predicted slide.
   *
   * @param slideId the slide
   * @param label its class, -1 when unknown
   * @param probabilities softmax of the model's logits
   * @param patches patches predicted
   * @param top level-0 corners {@code x,y} of the highest-scoring patches, best first
   * @param span side of a patch in level-0 pixels
   */
  public record SlideResult(String slideId, int label, double[] probabilities, int patches, int[] top, int span) {
    /** The most probable class (the lowest on ties). */
    public int predicted() {
      int best = 0;
      for (int c = 1; c < probabilities.length; c++) {
        if (probabilities[c] > probabilities[best]) {
          best = c;
        }
      }
      return best;
    }
  }

  /** A slide that could not be predicted, and why. */
  public record SlideFailure(String slideId, String error) {}

  /** What a prediction gave, slides in the order they finished. */
  public record Summary(Path out, List<SlideResult> predicted, List<SlideFailure> failed) {}

  /** Told of each slide as it finishes; called from the prediction threads, one call at a time. */
  @FunctionalInterface
  public interface Listener {
    /** Slide {@code slideId} is done ({@code error} null) or failed; {@code finished} of {@code total} are. */
    void slideDone(int finished, int total, String slideId, String error);
  }

  /**
   * Predicts {@code tasks} with {@code model} on {@code devices} (one thread and replica each),
   * writing into {@code out}.
   *
   * @throws IOException when an output file cannot be written
   * @throws IllegalArgumentException when the model cannot be built from its checkpoint
   */
  public static Summary run(TrainedModel model, List<SlideTask> tasks, PatchSource source, PredictSettings settings,
      SlideSettings slideSettings, List<String> devices, Path out, Listener listener) throws IOException {
    Files.createDirectories(out.resolve("attention"));
    if (settings.heatmapSize() > 0) {
      Files.createDirectories(out.resolve("heatmaps"));
    }
    List<SlideResult> results = Collections.synchronizedList(new ArrayList<>());
    List<SlideFailure> failures = Collections.synchronizedList(new ArrayList<>());
    AtomicInteger next = new AtomicInteger();
    AtomicInteger finished = new AtomicInteger();
    try (Rows predictions = new Rows(out.resolve("predictions.csv"), header(model.classNames()));
        Rows errors = new Rows(out.resolve("errors.csv"), "slide_id,error");
        SlidePool slides = new SlidePool(slideSettings);
        ExecutorService pool = Executors.newFixedThreadPool(devices.size(), r -> {
          Thread t = new Thread(r, "predict");
          t.setDaemon(true);
          return t;
        })) {
      List<Future<?>> threads = new ArrayList<>();
      for (String device : devices) {
        threads.add(pool.submit(() -> {
          try (SlidePredictor predictor = new SlidePredictor(model, device, settings.chunkPatches())) {
            for (int i = next.getAndIncrement(); i < tasks.size(); i = next.getAndIncrement()) {
              SlideTask task = tasks.get(i);
              String error = null;
              try {
                SlideResult r = predict(task, model, predictor, source, slides, settings, out);
                results.add(r);
                predictions.write(row(r, model.classNames()));
              } catch (IOException | RuntimeException e) {
                error = e.getMessage() == null ? e.toString() : e.getMessage();
                failures.add(new SlideFailure(task.slideId(), error));
                errors.write(csv(task.slideId()) + "," + csv(error));
              }
              synchronized (listener) {
                listener.slideDone(finished.incrementAndGet(), tasks.size(), task.slideId(), error);
              }
            }
          }
          return null;
        }));
      }
      for (Future<?> t : threads) {
        t.get();
      }
    } catch (ExecutionException e) {
      if (e.getCause() instanceof UncheckedIOException io) {
        throw io.getCause();
      }
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException("prediction failed: " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while predicting", e);
    }
    return new Summary(out, List.copyOf(results), List.copyOf(failures));
  }

  private static SlideResult predict(SlideTask task, TrainedModel model, SlidePredictor predictor, PatchSource source,
      SlidePool slides, PredictSettings settings, Path out) throws IOException {
    PatchSource.Located located = source.locate(task, slides, model.patchSize(), model.level(), model.targetMpp());
    PatchCoordinates patches = located.patches();
    int span = located.span();
    BagOutput output = predictor.predict(task.slideId(), task.slide().toString(), patches, slides);
    float[] scores = output.weights();
    writeAttention(out.resolve("attention").resolve(task.slideId() + ".csv"), patches, scores);
    if (settings.heatmapSize() > 0) {
      Heatmap.write(out.resolve("heatmaps").resolve(task.slideId() + ".png"), slides, task.slide(), patches, scores, span,
          settings.heatmapSize(), settings.heatmapAlpha());
    }
    return new SlideResult(task.slideId(), task.label(), BagStream.softmax(output.logits()), patches.size(),
        top(patches, scores, settings.topK()), span);
  }

  /** The corners of the {@code k} highest scores, best first (the earlier patch on ties). */
  static int[] top(PatchCoordinates patches, float[] scores, int k) {
    int n = Math.min(k, scores.length);
    int[] best = new int[n]; // indices, kept sorted by score descending
    int held = 0;
    for (int i = 0; i < scores.length; i++) {
      if (held == n && scores[i] <= scores[best[n - 1]]) {
        continue;
      }
      int j = held < n ? held++ : n - 1;
      while (j > 0 && scores[best[j - 1]] < scores[i]) {
        best[j] = best[j - 1];
        j--;
      }
      best[j] = i;
    }
    int[] xy = new int[2 * n];
    for (int j = 0; j < n; j++) {
      xy[2 * j] = patches.x(best[j]);
      xy[2 * j + 1] = patches.y(best[j]);
    }
    return xy;
  }

  private static void writeAttention(Path file, PatchCoordinates patches, float[] scores) throws IOException {
    Path part = file.resolveSibling(file.getFileName() + ".part");
    try (BufferedWriter w = Files.newBufferedWriter(part, StandardCharsets.UTF_8)) {
      w.write("x,y,score\n");
      for (int i = 0; i < scores.length; i++) {
        w.write(patches.x(i) + "," + patches.y(i) + "," + scores[i] + "\n");
      }
    }
    Files.move(part, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  static String header(List<String> classNames) {
    StringBuilder h = new StringBuilder("slide_id");
    for (String c : classNames) {
      h.append(",p_").append(c);
    }
    return h.append(",predicted,label,patches").toString();
  }

  /** A slide's line: its class probabilities, the predicted class and its label (empty when unknown), by name. */
  static String row(SlideResult r, List<String> classNames) {
    StringBuilder s = new StringBuilder(csv(r.slideId()));
    for (double p : r.probabilities()) {
      s.append(',').append(String.format(Locale.ROOT, "%.6f", p));
    }
    return s.append(',').append(csv(classNames.get(r.predicted()))).append(',')
        .append(r.label() >= 0 ? csv(classNames.get(r.label())) : "").append(',').append(r.patches()).toString();
  }

  static String csv(String field) {
    String one = field.replace('\n', ' ').replace('\r', ' ');
    return one.contains(",") || one.contains("\"") ? "\"" + one.replace("\"", "\"\"") + "\"" : one;
  }

  /** A CSV file written a row at a time, each row flushed to the file at once; thread-safe. */
  private static final class Rows implements AutoCloseable {
    private final BufferedWriter w;

    Rows(Path file, String header) throws IOException {
      w = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
      write(header);
    }

    synchronized void write(String row) {
      try {
        w.write(row);
        w.write('\n');
        w.flush();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public synchronized void close() throws IOException {
      w.close();
    }
  }
}
