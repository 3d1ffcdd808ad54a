package io.bagpipe.cli;

import ai.djl.engine.Engine;
import com.typesafe.config.Config;
import io.bagpipe.bag.BagInputException;
import io.bagpipe.bag.DataSettings;
import io.bagpipe.bag.Manifest;
import io.bagpipe.bag.SlideEntry;
import io.bagpipe.coordinator.ClassificationMetrics;
import io.bagpipe.predict.Evaluation;
import io.bagpipe.predict.PatchSource;
import io.bagpipe.predict.PredictSettings;
import io.bagpipe.predict.Prediction;
import io.bagpipe.predict.SlideTask;
import io.bagpipe.predict.TrainedModel;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.slide.synth.TumourTruth;
import io.bagpipe.worker.TorchThreads;
import io.bagpipe.worker.WorkerSettings;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe predict}: a trained model over the slides of a data set folder, writing
 * per-slide probabilities, attention scores and heatmaps (see {@link Prediction}).
 */
@Command(name = "predict", mixinStandardHelpOptions = true,
    description = "Predict slides with a trained model: predictions.csv, attention/<id>.csv, heatmaps/<id>.png.")
final class PredictCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Option(names = "--checkpoint", required = true, paramLabel = "PATH",
      description = "A .ckpt file, or a run directory (its best.ckpt, else its newest checkpoint).")
  Path checkpoint;

  @Option(names = "--data", paramLabel = "DIR", description = "Data set folder: manifest.csv, slides/, coords/ (bagpipe.data.dir).")
  Path data;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the outputs (created).")
  Path out;

  @Override
  public Integer call() throws IOException {
    Config config = configOptions.load();
    return run(config, data, checkpoint, out, false, "", "");
  }

  /**
   * Predicts (and, when {@code evaluate}, scores) the slides of the data set; 0 when every slide
   * was predicted, 1 when some failed.
   */
  static int run(Config loaded, Path data, Path checkpoint, Path out, boolean evaluate, String folds, String split)
      throws IOException {
    Config config = data == null ? loaded
        : com.typesafe.config.ConfigFactory.parseMap(java.util.Map.of("bagpipe.data.dir", data.toAbsolutePath().toString()))
            .withFallback(loaded);
    Config b = config.getConfig("bagpipe");
    PredictSettings settings = PredictSettings.fromConfig(b.getConfig("predict"));
    SlideSettings slide = SlideSettings.fromConfig(b.getConfig("slide"));
    WorkerSettings worker = WorkerSettings.fromConfig(b.getConfig("worker"),
        b.getValue("worker.devices").unwrapped() instanceof String ? Engine.getInstance().getGpuCount() : 0);
    DataSettings dataSettings = DataSettings.fromConfig(b.getConfig("data"));
    TrainedModel model = TrainedModel.load(checkpoint, config);
    List<SlideTask> tasks = tasks(dataSettings, evaluate, folds, split, model.classNames());
    TorchThreads.configure(worker.intraOpThreads());
    PrintStream err = System.err;
    err.printf("%s: %d slide(s) with %s from %s on %d worker(s) %s%n", evaluate ? "evaluate" : "predict", tasks.size(),
        model.model().encoder().name() + "/" + model.model().pooling().name().toLowerCase(Locale.ROOT), model.source(),
        worker.devices().size(), worker.devices());
    if (!model.fromConfiguration().isEmpty()) {
      err.println("  the checkpoint does not record " + String.join(", ", model.fromConfiguration())
          + "; taken from the configuration");
    }
    if (!model.fromReference().isEmpty() && !java.util.EnumSet.of(io.bagpipe.model.PoolingKind.ATTENTION,
        io.bagpipe.model.PoolingKind.GATED_ATTENTION, io.bagpipe.model.PoolingKind.MEAN, io.bagpipe.model.PoolingKind.MAX)
        .contains(model.model().pooling())) {
      err.println("  the checkpoint predates recorded zoo hyper-parameters; rebuilt with reference.conf's "
          + String.join(", ", model.fromReference()) + " (a run that set others fails the parameter check)");
    }
    SlideBar bar = new SlideBar(err, System.console() != null);
    // A slide without a coordinate file is patched on the fly, as bagpipe patch would (bagpipe.patch).
    PatchSource patches = PatchSource.filesOrTissue(dataSettings.coords(),
        io.bagpipe.slide.tissue.TissueSettings.fromConfig(b.getConfig("patch")), out, slide);
    Prediction.Summary s = Prediction.run(model, tasks, patches, settings, slide, worker.devices(), out, bar);
    bar.end();
    err.printf("%d slide(s) predicted, %d failed; outputs in %s%n", s.predicted().size(), s.failed().size(),
        out.toAbsolutePath());
    for (Prediction.SlideFailure f : s.failed()) {
      err.println("  failed " + f.slideId() + ": " + f.error());
    }
    if (evaluate) {
      Optional<TumourTruth> truth = TumourTruth.of(dataSettings.dir());
      Double hitRate = truth.map(t -> Evaluation.tumourHitRate(t, s.predicted())).orElse(null);
      ClassificationMetrics m = Evaluation.write(out, model.model().classes(), s.predicted(), hitRate, settings.topK());
      System.out.printf(Locale.ROOT, "slides %d  accuracy %.4f  AUC %.4f  confusion %s%n", m.slides(), m.accuracy(),
          m.auc(), m.confusion());
      if (hitRate != null) {
        System.out.printf(Locale.ROOT, "tumour hit rate (top-%d attention patches of positive slides on tumour) %.4f%n",
            settings.topK(), hitRate);
      }
    }
    return s.failed().isEmpty() ? 0 : 1;
  }

  /**
   * The slides to predict: the manifest's, with labels mapped by the model's class map;
   * {@code folds} (digits, e.g. "4") keeps those folds, {@code split} (train, val or test) that
   * split. Without a manifest (predict only), every slide file in the slides folder, unlabelled.
   */
  static List<SlideTask> tasks(DataSettings data, boolean evaluate, String folds, String split, List<String> classes)
      throws IOException {
    if (!Files.isRegularFile(data.manifest()) && !evaluate) {
      List<SlideTask> tasks = new ArrayList<>();
      if (!Files.isDirectory(data.slides())) {
        throw new BagInputException(data.slides(), 0, "no manifest (" + data.manifest() + ") and no slides folder"
            + " (bagpipe.data.slides)");
      }
      try (Stream<Path> files = Files.list(data.slides())) {
        for (Path f : files.sorted().toList()) {
          String name = f.getFileName().toString();
          int dot = name.lastIndexOf('.');
          if (dot > 0 && data.slideExtensions().contains(name.substring(dot + 1)) && Files.isRegularFile(f)) {
            tasks.add(new SlideTask(name.substring(0, dot), f, -1));
          }
        }
      }
      if (tasks.isEmpty()) {
        throw new BagInputException(data.slides(), 0, "no slide files (extensions " + data.slideExtensions() + ")");
      }
      return tasks;
    }
    // Names in the model's class order, so a label means what it meant in training; integer labels stay indices.
    boolean named = classes.stream().anyMatch(c -> !c.chars().allMatch(Character::isDigit));
    Manifest manifest = Manifest.read(data.manifest(), data.slides(), data.slideExtensions(),
        named ? classes : List.of());
    List<SlideEntry> entries = manifest.slides();
    if (!split.isBlank()) {
      io.bagpipe.bag.Split wanted = io.bagpipe.bag.Split.parse(split).orElseThrow(() -> new IllegalArgumentException(
          "--split " + split + ": give train, val or test"));
      if (!manifest.hasSplits()) {
        throw new BagInputException(data.manifest(), 0, "--split " + split + " given, but the manifest has no split column");
      }
      entries = entries.stream().filter(e -> e.split().orElse(null) == wanted).toList();
      if (entries.isEmpty()) {
        throw new BagInputException(data.manifest(), 0, "no slide in split " + split);
      }
    }
    if (!folds.isBlank()) {
      if (!manifest.hasFolds()) {
        throw new BagInputException(data.manifest(), 0, "--folds " + folds + " given, but the manifest has no fold column");
      }
      entries = entries.stream().filter(e -> folds.indexOf(Character.forDigit(e.fold().getAsInt(), 10)) >= 0).toList();
      if (entries.isEmpty()) {
        throw new BagInputException(data.manifest(), 0, "no slide in folds " + folds);
      }
    }
    return SlideTask.of(entries, true);
  }

  /** A progress bar over slides on stderr: redrawn in place on a terminal, a line per tenth otherwise. */
  static final class SlideBar implements Prediction.Listener {
    private static final int WIDTH = 30;
    private final PrintStream out;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private int lastDecile = -1;

    SlideBar(PrintStream out, boolean terminal) {
      this.out = out;
      this.terminal = terminal;
    }

    @Override
    public void slideDone(int finished, int total, String slideId, String error) {
      if (error != null) {
        out.print(terminal ? "\r\033[K" : "");
        out.println("  slide " + slideId + " failed: " + error);
      }
      int decile = finished * 10 / total;
      if (!terminal && decile == lastDecile) {
        return;
      }
      lastDecile = decile;
      double elapsed = (System.nanoTime() - start) / 1e9;
      double eta = elapsed / finished * (total - finished);
      int filled = WIDTH * finished / total;
      String text = String.format(Locale.ROOT, "slides [%s%s] %d/%d  %.1f s/slide  ETA %d:%02d", "#".repeat(filled),
          ".".repeat(WIDTH - filled), finished, total, elapsed / finished, (long) eta / 60, (long) eta % 60);
      if (terminal) {
        out.print("\r\033[K" + text);
      } else {
        out.println(text);
      }
      out.flush();
    }

    void end() {
      if (terminal) {
        out.println();
      }
    }
  }
}
