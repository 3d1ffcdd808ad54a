package io.bagpipe.cli;

import com.typesafe.config.Config;
import io.bagpipe.features.FeatureFile;
import io.bagpipe.features.FeatureStandardization;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe bench witness}: the low-witness-rate acceptance. Writes (or reuses) a
 * synthetic data set whose positive slides hold only a few tumour grid patches
 * ({@code bagpipe.synth.tumour-patches}) among hundreds of tissue patches, trains each
 * pooling on it with every tissue patch of a slide in one bag ({@code bag-size = all}),
 * the same data, seed and epochs for all, and reports each one's best and final
 * validation AUC from its {@code metrics.jsonl}.
 */
@Command(name = "witness", mixinStandardHelpOptions = true,
    description = "Low witness rate: synth slides with a few tumour patches, train several poolings, report val AUCs.")
final class BenchWitnessCommand implements Callable<Integer> {

  private static final Pattern AUC = Pattern.compile("\"val_auc\":(-?[0-9.]+(?:[eE]-?\\d+)?|NaN|null)");
  private static final Pattern LOSS = Pattern.compile("\"train_loss\":(-?[0-9.]+(?:[eE]-?\\d+)?|NaN|null)");

  @Mixin ConfigOptions configOptions;

  @Option(names = "--out", paramLabel = "DIR", description = "Folder for the data set and the runs (default: bagpipe.bench.out/witness).")
  Path out;

  @Option(names = "--models", split = ",", paramLabel = "POOLING", description = "Poolings to train (default: ${DEFAULT-VALUE}).")
  List<String> models = List.of("attention", "clam-sb", "max-instance");

  @Option(names = "--slides", description = "Slides, half positive (default: ${DEFAULT-VALUE}).")
  int slides = 40;

  @Option(names = "--size", paramLabel = "PX", description = "Width and height of every slide (default: ${DEFAULT-VALUE}).")
  int size = 2048;

  @Option(names = "--patch-size", paramLabel = "PX", description = "Patch side, also the synth grid (default: ${DEFAULT-VALUE}).")
  int patchSize = 64;

  @Option(names = "--tumour-patches", paramLabel = "MIN-MAX", description = "Tumour grid patches per positive slide (default: ${DEFAULT-VALUE}).")
  String tumourPatches = "1-3";

  @Option(names = "--epochs", description = "Epochs per model (default: ${DEFAULT-VALUE}).")
  int epochs = 12;

  @Option(names = "--seed", description = "Synth seed; the training seeds are bagpipe.plan.seed and bagpipe.model.seed (default: ${DEFAULT-VALUE}).")
  long seed = 7;

  @Option(names = "--train-folds", description = "Training folds of the 5 written (default: ${DEFAULT-VALUE}).")
  String trainFolds = "123";

  @Option(names = "--val-folds", description = "Validation folds (default: ${DEFAULT-VALUE}).")
  String valFolds = "45";

  /**
   * Training settings the bench uses on features unless {@code --set} says otherwise: CLAM's
   * optimizer with a higher learning rate, and a CLAM projection of 64 (CLAM's 512 lets the
   * bag classifier memorise the 24 training slides' mean tissue instead of finding the tumour
   * patches; docs/models.md).
   */
  static final List<String> FEATURE_DEFAULTS = List.of("bagpipe.optimizer.name=adam", "bagpipe.optimizer.lr=1e-3",
      "bagpipe.optimizer.weight-decay=1e-5", "bagpipe.model.clam.hidden-dim=64");

  @Option(names = "--features", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Extract every patch's features once with bagpipe.model's encoder, frozen (bagpipe features),"
          + " standardise them per dimension with the training slides' mean and std, and train only pooling and head"
          + " on them, as CLAM is trained, with Adam lr 1e-3, weight decay 1e-5 and clam.hidden-dim 64 unless --set"
          + " says otherwise (default: ${DEFAULT-VALUE}; --no-features trains end to end from pixels).")
  boolean features;

  /** One model's outcome. */
  record Outcome(String pooling, double bestAuc, int bestEpoch, double finalAuc, double finalTrainLoss, double seconds,
      int exitCode) {}

  @Override
  public Integer call() throws Exception {
    if (!tumourPatches.matches("\\d+(-\\d+)?")) {
      throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
          "--tumour-patches must be N or MIN-MAX (e.g. 1-3), got '" + tumourPatches + "'");
    }
    String[] range = tumourPatches.split("-");
    List<String> userSets = new ArrayList<>(features ? FEATURE_DEFAULTS : List.of());
    userSets.addAll(configOptions.overrides);
    Config base = ConfigOptions.load(configOptions.configFile, userSets);
    BenchSettings bench = BenchSettings.fromConfig(base.getConfig("bagpipe.bench"));
    Path root = (out != null ? out : bench.out().resolve("witness")).toAbsolutePath().normalize();
    Path data = root.resolve("data");

    List<String> synth = new ArrayList<>(configOptions.overrides);
    synth.addAll(List.of("bagpipe.synth.out=" + quote(data), "bagpipe.synth.slides=" + slides,
        "bagpipe.synth.width=" + size, "bagpipe.synth.height=" + size, "bagpipe.synth.patch-size=" + patchSize,
        "bagpipe.synth.folds=5", "bagpipe.synth.seed=" + seed,
        "bagpipe.synth.tumour-patches=[" + range[0] + ", " + range[range.length - 1] + "]"));
    SynthSettings synthSettings =
        SynthSettings.fromConfig(ConfigOptions.load(configOptions.configFile, synth).getConfig("bagpipe.synth"));
    say("data set: %d slides of %dx%d, patch %d, %s tumour patches per positive slide", slides, size, size, patchSize,
        tumourPatches);
    SyntheticDataSet.Result set = SynthCommand.write(synthSettings);

    Path featureDir = features ? root.resolve("features") : null;
    if (features) {
      List<String> args = new ArrayList<>();
      if (configOptions.configFile != null) {
        args.addAll(List.of("--config", configOptions.configFile.toString()));
      }
      for (String o : configOptions.overrides) {
        args.addAll(List.of("--set", o));
      }
      args.addAll(List.of("--set", "bagpipe.plan.patch-size=" + patchSize, "--data", data.toString(),
          "--out", featureDir.toString()));
      say("features of every patch with bagpipe.model's encoder, frozen, into %s", featureDir);
      int code = new picocli.CommandLine(new FeaturesCommand()).execute(args.toArray(String[]::new));
      if (code != 0) {
        say("feature extraction failed (exit %d); see %s", code, featureDir.resolve("errors.csv"));
        return code;
      }
      featureDir = standardize(featureDir, root.resolve("features-standardized"), set);
    }

    List<Outcome> outcomes = new ArrayList<>();
    for (int i = 0; i < models.size(); i++) {
      String pooling = models.get(i);
      Path runDir = root.resolve("runs").resolve(pooling);
      deleteTree(runDir);
      List<String> sets = new ArrayList<>(userSets);
      sets.addAll(List.of("bagpipe.data.dir=" + quote(data), "bagpipe.train.run-dir=" + quote(runDir),
          "bagpipe.train.epochs=" + epochs, "bagpipe.train.resume=false", "bagpipe.plan.bag-size=all",
          "bagpipe.plan.patch-size=" + patchSize, "bagpipe.plan.folds.train=" + quote(trainFolds),
          "bagpipe.plan.folds.val=" + quote(valFolds), "bagpipe.model.pooling=" + pooling));
      if (featureDir != null) {
        sets.add("bagpipe.data.features=" + quote(featureDir));
      }
      Config config = ConfigOptions.load(configOptions.configFile, sets);
      say("model %d/%d: %s, %d epochs, run dir %s", i + 1, models.size(), pooling, epochs, runDir);
      long t0 = System.nanoTime();
      int code = TrainCommand.run(config);
      double seconds = (System.nanoTime() - t0) / 1e9;
      outcomes.add(outcome(pooling, runDir.resolve("metrics.jsonl"), seconds, code));
    }
    bench.report("witness", report(synthSettings, set, outcomes, base));
    return outcomes.stream().allMatch(o -> o.exitCode() == 0) ? 0 : 1;
  }

  /**
   * Writes every slide's features standardised per dimension with the mean and std of the
   * training folds' rows into {@code to} (rewritten each time: the statistics follow
   * {@code --train-folds}) and returns {@code to}.
   */
  private Path standardize(Path from, Path to, SyntheticDataSet.Result set) throws IOException {
    List<Path> training = new ArrayList<>();
    for (SyntheticDataSet.SlideSummary d : set.slides()) {
      if (trainFolds.indexOf(Character.forDigit(d.fold(), 10)) >= 0) {
        training.add(from.resolve(d.id() + FeatureFile.EXTENSION));
      }
    }
    FeatureStandardization.Stats stats = FeatureStandardization.measure(training);
    deleteTree(to);
    Files.createDirectories(to);
    for (SyntheticDataSet.SlideSummary d : set.slides()) {
      FeatureStandardization.write(from.resolve(d.id() + FeatureFile.EXTENSION), to.resolve(d.id() + FeatureFile.EXTENSION),
          stats);
    }
    say("features standardised per dimension with the mean and std of %d rows of %d training slides, into %s",
        stats.rows(), training.size(), to);
    return to;
  }

  /** Best and final validation AUC of a run from its metrics.jsonl (NaN when it wrote none). */
  static Outcome outcome(String pooling, Path metrics, double seconds, int exitCode) throws IOException {
    double best = Double.NaN;
    int bestEpoch = 0;
    double last = Double.NaN;
    double lastLoss = Double.NaN;
    if (Files.isRegularFile(metrics)) {
      int epoch = 0;
      for (String line : Files.readAllLines(metrics)) {
        if (line.isBlank()) {
          continue;
        }
        epoch++;
        last = number(AUC.matcher(line));
        lastLoss = number(LOSS.matcher(line));
        if (!Double.isNaN(last) && (Double.isNaN(best) || last > best)) {
          best = last;
          bestEpoch = epoch;
        }
      }
    }
    return new Outcome(pooling, best, bestEpoch, last, lastLoss, seconds, exitCode);
  }

  private static double number(Matcher m) {
    if (!m.find() || m.group(1).equals("null") || m.group(1).equals("NaN")) {
      return Double.NaN;
    }
    return Double.parseDouble(m.group(1));
  }

  /**
   * The data set's witness rate from synth's truth ({@code dataset.json}): over the positive
   * slides, tumour patches per slide and tumour patches among tissue patches, pooled and per slide.
   *
   * @param positives positive slides
   * @param tumourPerSlide mean tumour patches per positive slide
   * @param tissuePerSlide mean tissue patches per positive slide
   * @param rate tumour patches / tissue patches over all positive slides
   * @param minRate lowest per-slide rate
   * @param maxRate highest per-slide rate
   */
  record WitnessRate(int positives, double tumourPerSlide, double tissuePerSlide, double rate, double minRate,
      double maxRate) {

    static WitnessRate of(List<SyntheticDataSet.SlideSummary> slides) {
      int positives = 0;
      long tumour = 0;
      long tissue = 0;
      double min = Double.NaN;
      double max = Double.NaN;
      for (SyntheticDataSet.SlideSummary d : slides) {
        if (d.label() != 1) {
          continue;
        }
        positives++;
        tumour += d.tumourPatches();
        tissue += d.tissuePatches();
        double r = (double) d.tumourPatches() / Math.max(1, d.tissuePatches());
        min = Double.isNaN(min) ? r : Math.min(min, r);
        max = Double.isNaN(max) ? r : Math.max(max, r);
      }
      return new WitnessRate(positives, (double) tumour / Math.max(1, positives),
          (double) tissue / Math.max(1, positives), (double) tumour / Math.max(1, tissue), min, max);
    }

    /** One report line: "witness rate 0.42 % (2.0 tumour of 479 tissue patches ...)". */
    String line() {
      return String.format(Locale.ROOT, "witness rate %.2f %% (per positive slide %.1f tumour of %.0f tissue patches"
          + " on average, %.2f-%.2f %% per slide; %d positive slides; from synth's truth)",
          100 * rate, tumourPerSlide, tissuePerSlide, 100 * minRate, 100 * maxRate, positives);
    }
  }

  private String report(SynthSettings s, SyntheticDataSet.Result set, List<Outcome> outcomes, Config base) {
    long tissue = 0;
    for (SyntheticDataSet.SlideSummary d : set.slides()) {
      tissue += d.tissuePatches();
    }
    WitnessRate witness = WitnessRate.of(set.slides());
    StringBuilder md = new StringBuilder("# bagpipe bench witness\n\n")
        .append("- date: ").append(LocalDateTime.now().withNano(0)).append('\n')
        .append(String.format(Locale.ROOT, "- data: %s: %d slides of %dx%d, patch %d, synth seed %d; %.0f tissue patches"
                + " per slide on average; positives hold %s tumour patches%n",
            s.out(), set.slides().size(), s.width(), s.height(), s.patchSize(), s.seed(),
            (double) tissue / set.slides().size(), tumourPatches))
        .append("- ").append(witness.line()).append('\n')
        .append(String.format(Locale.ROOT, "- training: bag-size all, folds %s train / %s val, %d epochs, encoder %s,"
                + " optimizer %s lr %s weight decay %s, attention-dim %s, clam.hidden-dim %s, plan seed %d, model seed %d%n",
            trainFolds, valFolds, epochs, base.getString("bagpipe.model.encoder")
                + (features ? " (frozen; pooling and head trained on its features)" : " (trained end to end)"),
            base.getString("bagpipe.optimizer.name"), base.getString("bagpipe.optimizer.lr"),
            base.getString("bagpipe.optimizer.weight-decay"), base.getString("bagpipe.model.attention-dim"),
            base.getString("bagpipe.model.clam.hidden-dim"), base.getLong("bagpipe.plan.seed"), base.getLong("bagpipe.model.seed")))
        .append("\n| pooling | best val AUC (epoch) | final val AUC | final train loss | wall s | exit |\n")
        .append("|---|---|---|---|---|---|\n");
    for (Outcome o : outcomes) {
      md.append(String.format(Locale.ROOT, "| %s | %.3f (%d) | %.3f | %.4f | %.0f | %d |%n", o.pooling(), o.bestAuc(),
          o.bestEpoch(), o.finalAuc(), o.finalTrainLoss(), o.seconds(), o.exitCode()));
    }
    return md.toString();
  }

  private static String quote(Object value) {
    return "\"" + value.toString().replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  private static void deleteTree(Path p) throws IOException {
    if (Files.exists(p)) {
      try (var s = Files.walk(p)) {
        for (Path q : (Iterable<Path>) s.sorted(java.util.Comparator.reverseOrder())::iterator) {
          Files.delete(q);
        }
      }
    }
  }

  private static void say(String fmt, Object... args) {
    System.err.printf("bench witness: " + fmt + "%n", args);
  }
}
