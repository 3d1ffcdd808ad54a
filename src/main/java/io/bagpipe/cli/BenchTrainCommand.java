package io.bagpipe.cli;

import com.sun.management.OperatingSystemMXBean;
import com.typesafe.config.Config;
import io.bagpipe.api.Bagpipe;
import io.bagpipe.api.BagpipeRun;
import io.bagpipe.api.RunEvent;
import io.bagpipe.bag.BagRef;
import io.bagpipe.loader.DecodedBag;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.OptimizerSettings;
import io.bagpipe.worker.DjlReplica;
import io.bagpipe.worker.Replica;
import io.bagpipe.worker.TorchThreads;
import io.bagpipe.worker.WorkerSettings;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe bench train}: end-to-end training bags/s and CPU per bag on the
 * benchmark data set (MIL-CNN-S, bag_size 32, bag_num 8), beside the reference pipeline's
 * {@code ddp}, {@code train} and {@code compute} modes (bench/mil_pipeline.py, or the
 * peers' seed_mil.py with {@code --peers}) and the C read limit,
 * all in one run, interleaved over rounds. Reports the ratios the targets are set
 * on: Bagpipe's CPU per bag over the essential cost (the C read of a bag's patches
 * plus Bagpipe's own model step on an in-memory bag), Bagpipe's model step over
 * the peer's, and Bagpipe's bags/s over the peer's DDP.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
    description = "Training bags/s and CPU/bag vs the peer's ddp/train/compute and the C read limit, one run;"
        + " --features: aggregator on frozen features vs end to end, bags/s and val AUC.")
final class BenchTrainCommand implements Callable<Integer> {

  private static final int BAG_SIZE = 32;
  private static final int PATCH = 224;

  @Mixin ConfigOptions configOptions;

  @Mixin ProbeOptions probeOptions;

  @Option(names = "--data", paramLabel = "DIR", description = "Peer-layout data set (default: bagpipe.bench.peer-data, made when missing).")
  Path data;

  @Option(names = "--bags", description = "Measured bags per run (default: ${DEFAULT-VALUE}).")
  int bags = 64;

  @Option(names = "--warmup", description = "Bagpipe's warm-up bags before measuring: the JVM compiles its hot paths"
      + " in the first few dozen bags, and long runs are measured in steady state (default: ${DEFAULT-VALUE}; the peer"
      + " keeps its own 4).")
  int warmup = 32;

  @Option(names = "--rounds", description = "Interleaved rounds; medians are reported (default: ${DEFAULT-VALUE}).")
  int rounds = 2;

  @Option(names = "--workers", description = "Bagpipe CPU workers (one intra-op thread each) (default: ${DEFAULT-VALUE}).")
  int workers = 2;

  @Option(names = "--features", description = "Instead of the peer comparison: on the demo data, end-to-end training"
      + " beside training only pooling + head on features of the end-to-end run's frozen encoder, in one run: bags/s,"
      + " their ratio, and each run's last validation AUC.")
  boolean features;

  @Override
  public Integer call() throws Exception {
    if (features) {
      return featuresMode();
    }
    Config config = configOptions.load();
    BenchSettings bench = BenchSettings.fromConfig(config.getConfig("bagpipe.bench"));
    PeerTools peers = probeOptions.tools(bench);
    Path dir = bench.data(data, peers);
    Path limit = peers.compile("read_limit");
    List<String> compute0 = peers.pipeline("compute");
    List<String> ddp0 = peers.pipeline("ddp");
    List<String> train0 = peers.pipeline("train");

    Map<String, List<Double>> f = new LinkedHashMap<>();
    for (int r = 0; r < rounds; r++) {
      int port = 29600 + 10 * r;
      say("round %d/%d: C read limit", r + 1, rounds);
      Map<String, String> raw = peers.result(List.of(limit.toString(), dir.toString(), "1024", "2", "raw", Integer.toString(r + 1)), 600);
      put(f, "c_raw_patches_per_cpu_s", raw.get("patches_per_cpu_s"));
      put(f, "c_raw_patches_per_s", raw.get("patches_per_s"));
      Map<String, String> bag = peers.result(List.of(limit.toString(), dir.toString(), "1024", "2", "bag", Integer.toString(r + 1)), 600);
      put(f, "c_bag_patches_per_cpu_s", bag.get("patches_per_cpu_s"));

      say("round %d/%d: peer compute (model step only)", r + 1, rounds);
      Map<String, String> compute = peers.result(with(compute0, "--bags", "32", "--data", dir.toString()), 600);
      put(f, "peer_compute_bags_per_s", compute.get("bags_per_s"));
      put(f, "peer_compute_cpu_ms_per_bag", 1000 * d(compute, "cpu_s") / d(compute, "bags"));

      say("round %d/%d: Bagpipe model step only", r + 1, rounds);
      double[] step = modelStep(config, 32);
      put(f, "bagpipe_step_bags_per_s_1thread", step[0]);
      put(f, "bagpipe_step_cpu_ms_per_bag_1thread", step[1]);
      put(f, "bagpipe_step_bags_per_s_2threads", step[2]);

      say("round %d/%d: peer ddp (2 ranks, num_workers=2)", r + 1, rounds);
      Map<String, String> ddp = peers.result(with(ddp0, "--workers", "2", "--bags", Integer.toString(bags),
          "--data", dir.toString(), "--port", Integer.toString(port)), 900);
      put(f, "peer_ddp_bags_per_s", ddp.get("bags_per_s"));
      put(f, "peer_ddp_cpu_ms_per_bag", 1000 * d(ddp, "cpu_s") / d(ddp, "bags"));

      say("round %d/%d: peer train (1 process, num_workers=2)", r + 1, rounds);
      Map<String, String> train = peers.result(with(train0, "--workers", "2", "--bags", Integer.toString(bags),
          "--data", dir.toString()), 900);
      put(f, "peer_train_bags_per_s", train.get("bags_per_s"));
      put(f, "peer_train_cpu_ms_per_bag", 1000 * d(train, "cpu_s") / d(train, "bags"));

      say("round %d/%d: Bagpipe train (%d cpu workers)", r + 1, rounds, workers);
      double[] ours = pipeline(config, dir, bench.out().resolve("bench-run"));
      put(f, "bagpipe_train_bags_per_s", ours[0]);
      put(f, "bagpipe_train_cpu_ms_per_bag", ours[1]);

      double cReadMs = 1000.0 * BAG_SIZE / last(f, "c_raw_patches_per_cpu_s");
      put(f, "essential_cpu_ms_per_bag", cReadMs + last(f, "bagpipe_step_cpu_ms_per_bag_1thread"));
      put(f, "ratio_bagpipe_cpu_per_bag_to_essential", last(f, "bagpipe_train_cpu_ms_per_bag") / last(f, "essential_cpu_ms_per_bag"));
      put(f, "ratio_peer_ddp_cpu_per_bag_to_essential", last(f, "peer_ddp_cpu_ms_per_bag") / last(f, "essential_cpu_ms_per_bag"));
      put(f, "ratio_bagpipe_step_to_peer_compute", last(f, "bagpipe_step_bags_per_s_2threads") / last(f, "peer_compute_bags_per_s"));
      put(f, "ratio_bagpipe_bags_per_s_to_peer_ddp", last(f, "bagpipe_train_bags_per_s") / last(f, "peer_ddp_bags_per_s"));
      put(f, "ratio_bagpipe_bags_per_s_to_peer_train", last(f, "bagpipe_train_bags_per_s") / last(f, "peer_train_bags_per_s"));
    }

    StringBuilder md = new StringBuilder("# bagpipe bench train\n\n")
        .append("- date: ").append(LocalDateTime.now().withNano(0)).append('\n')
        .append("- data: ").append(dir).append(" (MIL-CNN-S, bag_size 32, bag_num 8, SGD 0.01/0.9/1e-4)\n")
        .append("- Bagpipe: ").append(workers).append(" cpu worker(s) x 1 intra-op thread, loaders = CPUs; ")
        .append(warmup).append(" warm-up bags then ").append(bags).append(" measured; CPU = the JVM's process CPU time\n")
        .append("- peer: ").append(String.join(" ", ddp0.subList(0, 2))).append(", probes ").append(peers.describe()).append(" (").append(bags).append(" measured bags; CPU of the process tree)\n")
        .append("- essential CPU per bag = C read_region of 32 patches (raw, slides open, 2 threads, per CPU-second)")
        .append(" + Bagpipe's model step on an in-memory bag (1 thread)\n")
        .append("- rounds: ").append(rounds).append(", interleaved; median (per round)\n\n")
        .append("| figure | median | per round |\n|---|---|---|\n");
    for (Map.Entry<String, List<Double>> e : f.entrySet()) {
      List<Double> v = e.getValue();
      double[] a = v.stream().mapToDouble(Double::doubleValue).toArray();
      StringBuilder per = new StringBuilder();
      for (double x : a) {
        per.append(per.isEmpty() ? "" : ", ").append(String.format("%.3f", x));
      }
      String name = e.getKey();
      md.append(String.format("| %s | %s%.3f%s | %s |%n", name, name.startsWith("ratio") ? "**" : "",
          BenchReadCommand.median(a), name.startsWith("ratio") ? "**" : "", per));
    }
    md.append("\nTargets: ratio_bagpipe_cpu_per_bag_to_essential <= 0.8 (the essential cost is read through OpenSlide,")
        .append(" which the default decoder beats); ratio_bagpipe_step_to_peer_compute >= 1;")
        .append(" ratio_bagpipe_bags_per_s_to_peer_ddp >= 2.0.\n");
    bench.report("train", md);
    return 0;
  }

  /**
   * Bagpipe's model step alone on a fixed in-memory bag of random uint8 patches:
   * {bags/s and CPU ms per bag with 1 intra-op thread, bags/s with 2 threads}.
   */
  private static double[] modelStep(Config config, int n) {
    ModelSettings model = ModelSettings.fromConfig(config.getConfig("bagpipe.model"));
    OptimizerSettings optimizer = OptimizerSettings.fromConfig(config.getConfig("bagpipe.optimizer"));
    WorkerSettings worker = WorkerSettings.fromConfig(config.getConfig("bagpipe.worker"), 0);
    ByteBuffer pixels = ByteBuffer.allocateDirect(BAG_SIZE * PATCH * PATCH * 3);
    SplittableRandom rnd = new SplittableRandom(1);
    while (pixels.hasRemaining()) {
      pixels.put((byte) rnd.nextInt(256));
    }
    DecodedBag bag = DecodedBag.inMemory(new BagRef("mem", "mem", 1, new int[2 * BAG_SIZE], PATCH, 0, 0, 0), pixels);
    OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    double[] out = new double[3];
    for (int threads : new int[] {1, 2}) {
      TorchThreads.configure(threads);
      try (Replica r = new DjlReplica(model, optimizer, worker, "cpu", PATCH)) {
        float[] g = new float[r.gradientLength()];
        for (int i = 0; i < 12; i++) { // libtorch's allocator and the JIT settle within ~10 steps
          step(r, bag, g);
        }
        long t0 = System.nanoTime();
        long c0 = os.getProcessCpuTime();
        for (int i = 0; i < n; i++) {
          step(r, bag, g);
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        double cpu = (os.getProcessCpuTime() - c0) / 1e9;
        if (threads == 1) {
          out[0] = n / secs;
          out[1] = 1000 * cpu / n;
        } else {
          out[2] = n / secs;
        }
      }
    }
    return out;
  }

  private static void step(Replica r, DecodedBag bag, float[] g) {
    r.accumulate(bag);
    r.gradient(g);
    r.apply(g, 0);
  }

  /** Bagpipe's whole pipeline on the peer's data: {bags/s, CPU ms per bag} over the measured window. */
  private double[] pipeline(Config base, Path dir, Path runDir) throws Exception {
    deleteTree(runDir);
    int perEpoch = 8 * 8;
    int epochs = (warmup + bags + perEpoch - 1) / perEpoch;
    StringBuilder devices = new StringBuilder("[");
    for (int i = 0; i < workers; i++) {
      devices.append(i == 0 ? "cpu" : ",cpu");
    }
    Config config = ConfigOptions.defaults(List.of(
        "bagpipe.data.dir=" + dir, "bagpipe.train.run-dir=" + runDir, "bagpipe.train.epochs=" + epochs,
        "bagpipe.train.resume=false", "bagpipe.plan.bag-size=" + BAG_SIZE, "bagpipe.plan.bag-num=8",
        "bagpipe.plan.patch-size=" + PATCH, "bagpipe.plan.folds.k=1", "bagpipe.plan.folds.train=1",
        "bagpipe.plan.folds.val=\"\"", "bagpipe.model.encoder=mil-cnn-s", "bagpipe.optimizer.name=sgd",
        "bagpipe.worker.devices=" + devices + "]", "bagpipe.worker.intra-op-threads=1"))
        .withFallback(base);
    ThroughputMeter meter = new ThroughputMeter(warmup);
    BagpipeRun run = Bagpipe.start(config);
    run.events().subscribe(meter);
    run.result().toCompletableFuture().get(30, TimeUnit.MINUTES);
    return new double[] {meter.bagsPerSecond(), meter.cpuMsPerBag()};
  }

  /**
   * {@code --features}: the demo's end-to-end training (default model, from pixels), then
   * {@code bagpipe features} with that run's encoder (its best checkpoint, frozen) over the same
   * slides, then the demo's training again on those features (pooling + head only). Both runs use
   * the same plan, epochs, workers and validation folds.
   */
  private int featuresMode() throws Exception {
    Config base = configOptions.load();
    BenchSettings bench = BenchSettings.fromConfig(base.getConfig("bagpipe.bench"));
    List<String> sets = new ArrayList<>(DemoCommand.prepare(base));
    StringBuilder devices = new StringBuilder("[");
    for (int i = 0; i < workers; i++) {
      devices.append(i == 0 ? "cpu" : ",cpu");
    }
    sets.add("bagpipe.worker.devices=" + devices + "]");
    sets.add("bagpipe.worker.intra-op-threads=1");
    sets.addAll(configOptions.overrides);
    Path out = bench.out().resolve("bench-features").toAbsolutePath();
    deleteTree(out);
    Path endToEndDir = out.resolve("end-to-end");
    Path featureDir = out.resolve("features");
    Path aggregatorDir = out.resolve("aggregator");
    Config endToEnd = ConfigOptions.load(configOptions.configFile, with(sets, "bagpipe.train.run-dir=" + endToEndDir));

    say("features: end-to-end training on %s (%d cpu workers)", endToEnd.getString("bagpipe.data.dir"), workers);
    double[] e2e = measure(endToEnd);

    say("features: encoding every patch with the end-to-end run's encoder");
    Config b = endToEnd.getConfig("bagpipe");
    io.bagpipe.bag.DataSettings data = io.bagpipe.bag.DataSettings.fromConfig(b.getConfig("data"));
    io.bagpipe.predict.TrainedModel trained = io.bagpipe.predict.TrainedModel.load(endToEndDir, endToEnd);
    long t0 = System.nanoTime();
    var summary = io.bagpipe.predict.FeatureExtraction.run(io.bagpipe.predict.FeatureExtraction.Encoder.of(trained),
        PredictCommand.tasks(data, false, "", "", List.of()), io.bagpipe.predict.PatchSource.csvFolder(data.coords()),
        io.bagpipe.slide.SlideSettings.fromConfig(b.getConfig("slide")),
        java.util.Collections.nCopies(workers, "cpu"),
        io.bagpipe.predict.PredictSettings.fromConfig(b.getConfig("predict")).chunkPatches(), featureDir,
        (finished, total, id, error) -> { });
    double extractSecs = (System.nanoTime() - t0) / 1e9;
    if (!summary.failed().isEmpty()) {
      throw new IllegalStateException("feature extraction failed for " + summary.failed());
    }

    say("features: training pooling + head on the features");
    double[] agg = measure(ConfigOptions.load(configOptions.configFile,
        with(sets, "bagpipe.train.run-dir=" + aggregatorDir, "bagpipe.data.features=" + featureDir)));

    StringBuilder md = new StringBuilder("# bagpipe bench train --features\n\n")
        .append("- date: ").append(LocalDateTime.now().withNano(0)).append('\n')
        .append("- data: ").append(endToEnd.getString("bagpipe.data.dir")).append(" (the demo's synthetic slides; ")
        .append(endToEnd.getInt("bagpipe.train.epochs")).append(" epochs, folds ")
        .append(endToEnd.getString("bagpipe.plan.folds.train")).append(" train / ")
        .append(endToEnd.getString("bagpipe.plan.folds.val")).append(" validate)\n")
        .append("- end to end: bagpipe.model as configured (").append(b.getString("model.encoder")).append(", ")
        .append(b.getString("model.pooling")).append("), from pixels\n")
        .append("- aggregator: pooling + head on features of the end-to-end run's checkpoint encoder (")
        .append(trained.source()).append("), frozen; same plan and seed\n")
        .append("- ").append(workers).append(" cpu worker(s) x 1 intra-op thread; bags/s over the steps after ")
        .append(warmup).append(" warm-up bags\n\n")
        .append("| figure | value |\n|---|---|\n")
        .append(String.format(java.util.Locale.ROOT, "| end_to_end_bags_per_s | %.3f |%n", e2e[0]))
        .append(String.format(java.util.Locale.ROOT, "| aggregator_bags_per_s | %.3f |%n", agg[0]))
        .append(String.format(java.util.Locale.ROOT, "| **ratio_aggregator_to_end_to_end_bags_per_s** | **%.1f** |%n",
            agg[0] / e2e[0]))
        .append(String.format(java.util.Locale.ROOT, "| end_to_end_cpu_ms_per_bag | %.3f |%n", e2e[1]))
        .append(String.format(java.util.Locale.ROOT, "| aggregator_cpu_ms_per_bag | %.3f |%n", agg[1]))
        .append(String.format(java.util.Locale.ROOT, "| end_to_end_last_val_auc | %.4f |%n", e2e[2]))
        .append(String.format(java.util.Locale.ROOT, "| aggregator_last_val_auc | %.4f |%n", agg[2]))
        .append(String.format(java.util.Locale.ROOT, "| **auc_difference** (aggregator - end to end) | **%+.4f** |%n",
            agg[2] - e2e[2]))
        .append(String.format(java.util.Locale.ROOT, "| feature_extraction_s (%d slides, once) | %.1f |%n",
            summary.written().size(), extractSecs))
        .append("\nTargets: ratio >= 50; |auc_difference| <= 0.02.\n");
    bench.report("train-features", md);
    return 0;
  }

  private static List<String> with(List<String> sets, String... more) {
    List<String> all = new ArrayList<>(sets);
    all.addAll(List.of(more));
    return all;
  }

  /** A whole run of {@code config}: {bags/s and CPU ms per bag after the warm-up, the last epoch's val AUC}. */
  private double[] measure(Config config) throws Exception {
    ThroughputMeter meter = new ThroughputMeter(warmup);
    BagpipeRun run = Bagpipe.start(config);
    run.events().subscribe(meter);
    var result = run.result().toCompletableFuture().get(60, TimeUnit.MINUTES);
    if (!meter.measured()) {
      throw new IllegalStateException("the run trained too few bags to measure after " + warmup + " warm-up bags");
    }
    return new double[] {meter.bagsPerSecond(), meter.cpuMsPerBag(), result.last().auc()};
  }

  /**
   * Subscribes to a run's events and measures its steady state: bags are counted from
   * {@link RunEvent.StepCompleted} (each epoch's final count carried into the next), and the
   * window runs from the first step at which {@code warmup} bags are done to the last step seen,
   * timed in wall-clock nanoseconds and the JVM's process CPU time.
   */
  static final class ThroughputMeter implements Flow.Subscriber<RunEvent> {
    private final OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    private final int warmup;
    private long finished;
    private long startNanos = -1;
    private long startCpu;
    private long startBags;
    private long endNanos;
    private long endCpu;
    private long endBags;

    ThroughputMeter(int warmup) {
      this.warmup = warmup;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      s.request(Long.MAX_VALUE);
    }

    @Override
    public synchronized void onNext(RunEvent e) {
      if (e instanceof RunEvent.StepCompleted s) {
        long total = finished + s.bagsDone();
        if (startNanos < 0 && total >= warmup) {
          startCpu = os.getProcessCpuTime();
          startBags = total;
          startNanos = System.nanoTime();
        } else if (startNanos >= 0) {
          endNanos = System.nanoTime();
          endCpu = os.getProcessCpuTime();
          endBags = total;
        }
        if (s.step() == s.steps()) {
          finished += s.bagsDone();
        }
      }
    }

    @Override
    public void onError(Throwable t) {}

    @Override
    public void onComplete() {}

    /** Whether the window opened and holds at least one bag. */
    synchronized boolean measured() {
      return startNanos >= 0 && endBags - startBags > 0;
    }

    /** Bags trained in the window. */
    synchronized long bagsMeasured() {
      return endBags - startBags;
    }

    /** Bags trained per wall-clock second in the window. */
    synchronized double bagsPerSecond() {
      return (endBags - startBags) / ((endNanos - startNanos) / 1e9);
    }

    /** The process's CPU milliseconds per bag trained in the window. */
    synchronized double cpuMsPerBag() {
      return 1000 * ((endCpu - startCpu) / 1e9) / (endBags - startBags);
    }
  }

  private static void deleteTree(Path p) throws java.io.IOException {
    if (Files.exists(p)) {
      try (var s = Files.walk(p)) {
        for (Path q : (Iterable<Path>) s.sorted(java.util.Comparator.reverseOrder())::iterator) {
          Files.delete(q);
        }
      }
    }
  }

  private static double d(Map<String, String> m, String k) {
    return Double.parseDouble(m.get(k));
  }

  private static void put(Map<String, List<Double>> f, String k, String v) {
    put(f, k, Double.parseDouble(v));
  }

  private static void put(Map<String, List<Double>> f, String k, double v) {
    f.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
  }

  private static double last(Map<String, List<Double>> f, String k) {
    return f.get(k).getLast();
  }

  private static void say(String fmt, Object... args) {
    System.err.printf("bench train: " + fmt + "%n", args);
  }
}
