package io.bagpipe.cli;

import ai.djl.engine.Engine;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code bagpipe demo}: the main job on a built-in default. Writes the synthetic
 * data set of {@code bagpipe.synth} (reused when present), then trains on it from
 * scratch in {@code bagpipe.demo.run-dir} with the reference article's model
 * settings, one CPU worker per core (or every GPU), and reports the slide-level
 * validation AUC.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Write a small synthetic data set (reused when present) and train on it (~3 min on 2 cores).")
final class DemoCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Override
  public Integer call() throws Exception {
    Config base = configOptions.load();
    List<String> sets = prepare(base);
    if (Engine.getInstance().getGpuCount() == 0) {
      int cores = Runtime.getRuntime().availableProcessors();
      sets.add("bagpipe.worker.devices=[" + String.join(",", java.util.Collections.nCopies(Math.max(1, Math.min(cores, 4)), "cpu")) + "]");
      sets.add("bagpipe.worker.intra-op-threads=1");
    }
    sets.addAll(configOptions.overrides);
    return TrainCommand.run(ConfigOptions.load(configOptions.configFile, sets));
  }

  /**
   * Writes (or reuses) the synthetic data set of {@code bagpipe.synth}, empties
   * {@code bagpipe.demo.run-dir} and returns the {@code --set}s that point a run at
   * them with the demo's epochs and folds; {@code bagpipe launch} uses it too.
   */
  static List<String> prepare(Config base) throws IOException {
    SynthSettings synth = SynthSettings.fromConfig(base.getConfig("bagpipe.synth"));
    SyntheticDataSet.Result data = SynthCommand.write(synth);
    Config demo = base.getConfig("bagpipe.demo");
    Path runDir;
    List<String> sets = new ArrayList<>();
    try {
      runDir = Path.of(demo.getString("run-dir"));
      sets.add("bagpipe.data.dir=" + data.dir().toAbsolutePath());
      sets.add("bagpipe.train.run-dir=" + runDir.toAbsolutePath());
      sets.add("bagpipe.train.epochs=" + demo.getInt("epochs"));
      sets.add("bagpipe.train.resume=false");
      sets.add("bagpipe.plan.folds.k=" + synth.folds());
      sets.add("bagpipe.plan.folds.train=" + demo.getString("train-folds"));
      sets.add("bagpipe.plan.folds.val=" + demo.getString("validation-folds"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.demo: " + e.getMessage(), e);
    }
    deleteTree(runDir);
    System.err.printf("demo: training on %d synthetic slides, run directory %s%n", data.slides().size(), runDir);
    return sets;
  }

  /** The demo's own run directory starts empty, so each demo trains from scratch. */
  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
        Files.delete(p);
      }
    }
  }
}
