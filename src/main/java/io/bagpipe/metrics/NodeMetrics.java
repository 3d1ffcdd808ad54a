package io.bagpipe.metrics;

import io.bagpipe.loader.LoaderMeter;
import io.bagpipe.worker.WorkerMeter;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.instrumentation.jvm.JvmBufferPoolMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmClassLoadingMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmCompilationMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmGarbageCollectorMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmRuntimeInfoMetric;
import io.prometheus.metrics.instrumentation.jvm.JvmThreadsMetrics;
import io.prometheus.metrics.instrumentation.jvm.ProcessMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.ToLongFunction;

/**
 * One node's metrics of one run, in a Prometheus registry of its own (several runs in
 * one JVM do not mix): what the run's events say (steps, loss, bags/s, ring, faults,
 * validation), which every node receives, and what this node's loaders and workers
 * counted ({@link LoaderMeter}, {@link WorkerMeter}), read at scrape time. Every
 * {@code bagpipe_*} series and the JVM's carry the labels {@code run} and {@code node}.
 *
 * <p>The event methods are called from one thread (the node's run guardian); a scrape
 * may come from any. Recording a step allocates nothing that grows with the run: a
 * few gauge writes and one histogram observation.
 */
public final class NodeMetrics {

  /** Upper bounds of the step-time histogram's buckets, in seconds: 10 ms to about 5 min. */
  private static final double[] STEP_SECONDS = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 300};

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final Labels labels;
  private final List<Watched> workers = new CopyOnWriteArrayList<>();
  private final List<LoaderMeter> loaders = new CopyOnWriteArrayList<>();

  private final Gauge epoch;
  private final Gauge epochs;
  private final Gauge epochStep;
  private final Gauge epochSteps;
  private final Gauge epochBags;
  private final Counter steps;
  private final Histogram stepSeconds;
  private final Gauge trainLoss;
  private final Gauge bagsPerSecond;
  private final Gauge ringGeneration;
  private final Gauge ringWorkers;
  private final Counter workersJoined;
  private final Counter workersLost;
  private final Counter bagsSkipped;
  private final Counter slidesQuarantined;
  private final Counter epochsCompleted;
  private final Gauge valLoss;
  private final Gauge valAccuracy;
  private final Gauge valAuc;
  private final Gauge running;
  private final Gauge validationBags;

  private int lastEpoch = -1;
  private int lastStep = -1;
  private long lastStepNanos;

  private record Watched(String name, String device, WorkerMeter meter) {}

  /** Metrics labelled {@code run} = {@code runId} and {@code node} = {@code node}. */
  public NodeMetrics(String runId, String node) {
    labels = Labels.of("node", node, "run", runId);
    epoch = gauge("bagpipe_epoch", "The epoch being trained or validated, from 0.");
    epochs = gauge("bagpipe_epochs", "Epochs the run trains in all.");
    epochStep = gauge("bagpipe_epoch_step", "Steps of the current epoch committed so far.");
    epochSteps = gauge("bagpipe_epoch_steps", "Steps of the current epoch.");
    epochBags = gauge("bagpipe_epoch_bags", "Training bags of the current epoch in committed steps so far.");
    steps = Counter.builder().name("bagpipe_steps_total").help("Optimizer steps committed since this node started.")
        .constLabels(labels).register(registry);
    stepSeconds = Histogram.builder().name("bagpipe_step_seconds")
        .help("Wall time per committed step: from the epoch's start or the step before to its commit.")
        .classicOnly().classicUpperBounds(STEP_SECONDS).constLabels(labels).register(registry);
    trainLoss = gauge("bagpipe_train_loss", "Mean training loss of the current epoch's bags so far (NaN before one).");
    bagsPerSecond = gauge("bagpipe_bags_per_second", "Training bags per second over the current epoch so far.");
    ringGeneration = gauge("bagpipe_ring_generation", "The gradient ring's generation; it grows each time the ring"
        + " is formed again.");
    ringWorkers = gauge("bagpipe_ring_workers", "Workers (ranks) in the gradient ring.");
    workersJoined = counter("bagpipe_workers_joined_total", "Workers that took a rank: those the run started with"
        + " and every later joiner.");
    workersLost = counter("bagpipe_workers_lost_total", "Workers lost from the ring.");
    bagsSkipped = counter("bagpipe_bags_skipped_total", "Bags skipped because they could not be read.");
    slidesQuarantined = counter("bagpipe_slides_quarantined_total", "Slides quarantined: left out of later epochs.");
    epochsCompleted = counter("bagpipe_epochs_completed_total", "Epochs completed (trained and validated).");
    valLoss = gauge("bagpipe_val_loss", "Mean validation bag loss of the last completed epoch (NaN: none).");
    valAccuracy = gauge("bagpipe_val_accuracy", "Slide-level validation accuracy of the last completed epoch.");
    valAuc = gauge("bagpipe_val_auc", "Slide-level validation ROC AUC of the last completed epoch.");
    running = gauge("bagpipe_run_running", "1 while the run trains, 0 once it completed or failed.");
    validationBags = gauge("bagpipe_validation_bags", "Bags of the validation under way; 0 while training.");
    for (Gauge g : List.of(trainLoss, valLoss, valAccuracy, valAuc)) {
      g.set(Double.NaN);
    }

    String[] worker = {"worker", "device"};
    workerCounter("bagpipe_worker_steps_total", "Steps this node's worker applied.", WorkerMeter::steps);
    workerCounter("bagpipe_worker_bags_total", "Bags this node's worker trained in applied steps.", WorkerMeter::bags);
    CounterWithCallback.builder().name("bagpipe_worker_stage_seconds_total")
        .help("Time this node's worker spent in each stage of its applied steps; rate() over"
            + " rate(bagpipe_worker_steps_total) is the mean per step.")
        .labelNames("worker", "device", "stage").constLabels(labels)
        .callback(cb -> {
          for (Watched w : workers) {
            for (WorkerMeter.Stage s : WorkerMeter.Stage.values()) {
              cb.call(w.meter().stageNanos(s) / 1e9, w.name(), w.device(), s.label());
            }
          }
        }).register(registry);
    workerCounter("bagpipe_allreduce_bytes_total", "Bus bytes of this node's worker's all-reduces: 2(W-1)/W times"
        + " the gradient's bytes per step in a ring of W ranks.", WorkerMeter::allReduceBytes);
    CounterWithCallback.builder().name("bagpipe_allreduce_seconds_total")
        .help("Time this node's worker spent in all-reduces (gradient copy included).")
        .labelNames(worker).constLabels(labels)
        .callback(cb -> workers.forEach(w -> cb.call(w.meter().stageNanos(WorkerMeter.Stage.ALL_REDUCE) / 1e9,
            w.name(), w.device())))
        .register(registry);
    workerGauge("bagpipe_worker_ring_generation", "The ring generation this node's worker last joined (0: none).",
        WorkerMeter::generation);
    workerGauge("bagpipe_worker_rank", "This node's worker's rank in that ring (-1: none).", WorkerMeter::rank);
    workerCounter("bagpipe_worker_refused_orders_total", "Orders this node's worker refused because another"
        + " Coordinator than the one it follows sent them (docs/security.md).", WorkerMeter::refusedOrders);

    GaugeWithCallback.builder().name("bagpipe_loader_bags_in_flight")
        .help("Bags asked of this node's loaders and not yet answered: the loader queue's depth.")
        .constLabels(labels).callback(cb -> cb.call(sum(LoaderMeter::bagsInFlight))).register(registry);
    GaugeWithCallback.builder().name("bagpipe_loader_tasks_in_flight")
        .help("Decode tasks sent to this node's loader threads and not yet finished.")
        .constLabels(labels).callback(cb -> cb.call(sum(LoaderMeter::tasksInFlight))).register(registry);
    loaderCounter("bagpipe_loader_patches_total", "Patches of the bags this node's loaders decoded.",
        LoaderMeter::patchesDecoded, 1);
    loaderCounter("bagpipe_loader_bags_total", "Bags this node's loaders decoded.", LoaderMeter::bagsDecoded, 1);
    loaderCounter("bagpipe_loader_bags_failed_total", "Bags this node's loaders could not decode.",
        LoaderMeter::bagsFailed, 1);
    loaderCounter("bagpipe_loader_decode_seconds_total", "Loader thread time spent decoding, summed over threads.",
        LoaderMeter::decodeNanos, 1e-9);
    loaderCounter("bagpipe_loader_cache_hits_total", "Patches served from this node's patch cache.",
        LoaderMeter::cacheHits, 1);
    loaderCounter("bagpipe_loader_cache_misses_total", "Patches read from slides while the patch cache was on.",
        LoaderMeter::cacheMisses, 1);

    JvmMemoryMetrics.builder().constLabels(labels).register(registry);
    JvmBufferPoolMetrics.builder().constLabels(labels).register(registry);
    JvmGarbageCollectorMetrics.builder().constLabels(labels).register(registry);
    JvmThreadsMetrics.builder().constLabels(labels).register(registry);
    JvmClassLoadingMetrics.builder().constLabels(labels).register(registry);
    JvmCompilationMetrics.builder().constLabels(labels).register(registry);
    JvmRuntimeInfoMetric.builder().constLabels(labels).register(registry);
    ProcessMetrics.builder().constLabels(labels).register(registry);
  }

  /** The registry an exporter serves. */
  public PrometheusRegistry registry() {
    return registry;
  }

  /** Reads {@code meter} at each scrape, as worker {@code name} on {@code device}. */
  public void watch(String name, String device, WorkerMeter meter) {
    workers.add(new Watched(name, device, meter));
  }

  /** Reads {@code meter} at each scrape (the node's loader pool). */
  public void watch(LoaderMeter meter) {
    loaders.add(meter);
  }

  /** The run began with {@code workers} workers in ring generation 1, from {@code startEpoch}. */
  public void runStarted(int workers, int epochs, int startEpoch) {
    this.epochs.set(epochs);
    epoch.set(startEpoch);
    ringWorkers.set(workers);
    if (ringGeneration.get() < 1) {
      ringGeneration.set(1);
    }
    running.set(1);
  }

  /** A worker took a rank. */
  public void workerJoined() {
    workersJoined.inc();
  }

  /** A worker was lost from the ring. */
  public void workerLost() {
    workersLost.inc();
  }

  /**
   * The ring was formed again as {@code generation} of {@code workers} ranks; more ranks
   * than before count as joined workers.
   */
  public void ringReformed(long generation, int workers) {
    int before = (int) ringWorkers.get();
    if (workers > before && before > 0) {
      workersJoined.inc(workers - before);
    }
    ringGeneration.set(generation);
    ringWorkers.set(workers);
  }

  /** Validation of {@code epoch} began over {@code bags} bags. */
  public void validationStarted(int epoch, int bags) {
    this.epoch.set(epoch);
    validationBags.set(bags);
  }

  /** Training of {@code epoch} began: {@code steps} steps, from {@code firstStep}. */
  public void epochStarted(int epoch, int epochs, int steps, int firstStep) {
    validationBags.set(0);
    this.epoch.set(epoch);
    this.epochs.set(epochs);
    epochSteps.set(steps);
    epochStep.set(firstStep);
    epochBags.set(0);
    bagsPerSecond.set(0);
    trainLoss.set(Double.NaN);
    lastEpoch = epoch;
    lastStep = firstStep;
    lastStepNanos = System.nanoTime();
  }

  /**
   * Steps up to {@code step} of {@code epoch} (of {@code steps}) are committed; the epoch so
   * far has mean loss {@code meanLoss} over {@code bags} bags at {@code bagsPerSecond}.
   */
  public void stepCommitted(int epoch, int step, int steps, double meanLoss, double bagsPerSecond, int bags) {
    long now = System.nanoTime();
    if (epoch == lastEpoch && step > lastStep && lastStep >= 0) {
      int n = step - lastStep;
      double each = (now - lastStepNanos) / 1e9 / n;
      for (int i = 0; i < n; i++) {
        stepSeconds.observe(each);
      }
      this.steps.inc(n);
    } else {
      this.steps.inc();
    }
    lastEpoch = epoch;
    lastStep = step;
    lastStepNanos = now;
    this.epoch.set(epoch);
    epochStep.set(step);
    epochSteps.set(steps);
    epochBags.set(bags);
    trainLoss.set(meanLoss);
    this.bagsPerSecond.set(bagsPerSecond);
  }

  /** A bag was skipped. */
  public void bagSkipped() {
    bagsSkipped.inc();
  }

  /** A slide was quarantined. */
  public void slideQuarantined() {
    slidesQuarantined.inc();
  }

  /** An epoch completed with these validation figures (NaN: not measured). */
  public void epochCompleted(double trainLoss, double valLoss, double accuracy, double auc) {
    epochsCompleted.inc();
    validationBags.set(0);
    this.trainLoss.set(trainLoss);
    this.valLoss.set(valLoss);
    valAccuracy.set(accuracy);
    valAuc.set(auc);
  }

  /** The run ended (completed, stopped or failed). */
  public void runEnded() {
    running.set(0);
  }

  private Gauge gauge(String name, String help) {
    return Gauge.builder().name(name).help(help).constLabels(labels).register(registry);
  }

  private Counter counter(String name, String help) {
    return Counter.builder().name(name).help(help).constLabels(labels).register(registry);
  }

  private void workerCounter(String name, String help, ToLongFunction<WorkerMeter> value) {
    CounterWithCallback.builder().name(name).help(help).labelNames("worker", "device").constLabels(labels)
        .callback(cb -> workers.forEach(w -> cb.call(value.applyAsLong(w.meter()), w.name(), w.device())))
        .register(registry);
  }

  private void workerGauge(String name, String help, ToLongFunction<WorkerMeter> value) {
    GaugeWithCallback.builder().name(name).help(help).labelNames("worker", "device").constLabels(labels)
        .callback(cb -> workers.forEach(w -> cb.call(value.applyAsLong(w.meter()), w.name(), w.device())))
        .register(registry);
  }

  private void loaderCounter(String name, String help, ToLongFunction<LoaderMeter> value, double scale) {
    CounterWithCallback.builder().name(name).help(help).constLabels(labels)
        .callback(cb -> cb.call(sum(value) * scale)).register(registry);
  }

  private double sum(ToLongFunction<LoaderMeter> value) {
    long s = 0;
    for (LoaderMeter m : loaders) {
      s += value.applyAsLong(m);
    }
    return s;
  }
}
