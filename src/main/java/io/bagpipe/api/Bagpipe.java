package io.bagpipe.api;

import ai.djl.engine.Engine;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import io.bagpipe.allreduce.AllReduceSettings;
import io.bagpipe.allreduce.ChannelAuth;
import io.bagpipe.allreduce.RemoteRing;
import io.bagpipe.bag.ClassMap;
import io.bagpipe.bag.DataDigest;
import io.bagpipe.bag.DataSet;
import io.bagpipe.bag.DataSettings;
import io.bagpipe.bag.FoldSettings;
import io.bagpipe.bag.PlanSettings;
import io.bagpipe.bag.SlideEntry;
import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.CheckpointException;
import io.bagpipe.checkpoint.CheckpointSettings;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.checkpoint.Recovery;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.coordinator.MetricsLog;
import io.bagpipe.coordinator.ElasticSettings;
import io.bagpipe.coordinator.TrainSettings;
import io.bagpipe.loader.LoaderSettings;
import io.bagpipe.metrics.MetricsSettings;
import io.bagpipe.model.EncoderSpec;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.OptimizerSettings;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.worker.DjlReplica;
import io.bagpipe.worker.Replica;
import io.bagpipe.worker.ReplicaFactory;
import io.bagpipe.worker.AugmentSettings;
import io.bagpipe.worker.TrainingHabits;
import io.bagpipe.model.LrSchedule;
import io.bagpipe.bag.ClassWeights;
import io.bagpipe.bag.EpochPlan;
import io.bagpipe.bag.TrainSchedule;
import io.bagpipe.worker.TorchThreads;
import io.bagpipe.worker.WorkerSettings;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * Bagpipe's embedding API: start a training run from a {@link Config} (the
 * {@code bagpipe} subtree over reference.conf), standalone or inside an
 * application's own {@link ActorSystem}, then observe it through the returned
 * {@link BagpipeRun}.
 *
 * <pre>{@code
 * Config config = ConfigFactory.parseString("bagpipe.data.dir = /data/camelyon16")
 *     .withFallback(ConfigFactory.load());
 * BagpipeRun run = Bagpipe.start(config);
 * run.events().subscribe(mySubscriber);          // RunStarted, EpochCompleted, ...
 * RunResult result = run.result().toCompletableFuture().join();
 * }</pre>
 *
 * <p>Bad configuration or data (an unknown model, a malformed manifest line, a
 * missing slide) fails {@code start} itself with a message naming the key, file
 * and line; nothing is started then.
 */
public final class Bagpipe {

  private static final AtomicLong RUNS = new AtomicLong();

  private Bagpipe() {}

  /**
   * Starts a run in an ActorSystem of its own (named {@code bagpipe}), which
   * terminates when the run ends. That system gets Bagpipe's Pekko settings
   * ({@code bagpipe.pekko}, beneath the {@code pekko.*} values {@code config} sets itself).
   */
  public static BagpipeRun start(Config config) {
    return start(spec(config), config);
  }

  /** Starts the run of {@code spec} in an ActorSystem of its own made with {@code config}. */
  static BagpipeRun start(RunSpec spec, Config config) {
    EventPublisher events = events(config);
    CompletableFuture<RunResult> result = new CompletableFuture<>();
    ActorSystem<RunGuardian.Command> system = ActorSystem.create(
        RunGuardian.create(spec, new Topology.Local(), events, result), "bagpipe", PekkoDefaults.applyTo(config));
    result.whenComplete((r, e) -> system.terminate());
    return new BagpipeRun(events, result, () -> system.tell(RunGuardian.StopRun.INSTANCE), system.getWhenTerminated());
  }

  /**
   * Bagpipe's version: the jar manifest's {@code Implementation-Version}, else the
   * {@code io/bagpipe/version.properties} the build writes beside the classes; empty when
   * neither is there (classes compiled outside Maven).
   */
  public static java.util.Optional<String> version() {
    String v = Bagpipe.class.getPackage().getImplementationVersion();
    if (v != null) {
      return java.util.Optional.of(v);
    }
    try (java.io.InputStream in = Bagpipe.class.getResourceAsStream("/io/bagpipe/version.properties")) {
      if (in == null) {
        return java.util.Optional.empty();
      }
      java.util.Properties p = new java.util.Properties();
      p.load(in);
      String built = p.getProperty("version", "");
      return built.isBlank() || built.startsWith("${") ? java.util.Optional.empty() : java.util.Optional.of(built);
    } catch (java.io.IOException e) {
      return java.util.Optional.empty();
    }
  }

  /** Starts a run inside {@code system}, which stays up when the run ends. */
  public static BagpipeRun start(Config config, ActorSystem<?> system) {
    RunSpec spec = spec(config);
    EventPublisher events = events(config);
    CompletableFuture<RunResult> result = new CompletableFuture<>();
    ActorRef<RunGuardian.Command> guardian =
        system.systemActorOf(RunGuardian.create(spec, new Topology.Local(), events, result),
            "bagpipe-run-" + RUNS.incrementAndGet(), Props.empty());
    return new BagpipeRun(events, result, () -> guardian.tell(RunGuardian.StopRun.INSTANCE),
        result.handle((r, e) -> null));
  }

  /**
   * Starts this process as one node of a multi-node run: an ActorSystem joined to
   * the cluster of {@code bagpipe.cluster} (the first node, with no seed nodes,
   * forms it), this node's loaders and workers, and the run's Coordinator as a
   * Cluster Singleton. Training starts when {@code bagpipe.cluster.min-workers}
   * workers are up over all nodes. Events of the whole run arrive on every node.
   */
  public static BagpipeRun startNode(Config config) {
    ClusterSettings cluster = ClusterSettings.fromConfig(config.getConfig("bagpipe.cluster"));
    SecuritySettings security = SecuritySettings.fromConfig(config.getConfig("bagpipe.security"));
    ChannelAuth auth = security.channelAuth();
    Config node = security.applyTo(cluster.applyTo(config));
    RunSpec spec = spec(node, cluster.minWorkers(), cluster.joining());
    AllReduceSettings ring = AllReduceSettings.fromConfig(node.getConfig("bagpipe.allreduce"));
    EventPublisher events = events(node);
    CompletableFuture<RunResult> result = new CompletableFuture<>();
    AtomicBoolean up = new AtomicBoolean();
    ActorSystem<RunGuardian.Command> system = ActorSystem.create(
        RunGuardian.create(spec, new Topology.Cluster(i -> new RemoteRing(ring, auth), up), events, result),
        cluster.systemName(), PekkoDefaults.applyTo(node));
    Cluster members = Cluster.get(system);
    system.systemActorOf(memberWatch(up), "bagpipe-member-watch", Props.empty());
    if (cluster.bootstraps()) {
      NodeHealth.get(system).expect(spec.workersKey(), spec.worker().devices().size());
      startBootstrap(system);
    } else if (cluster.seedNodes().isEmpty()) {
      members.manager().tell(Join.create(members.selfMember().address()));
    }
    result.whenComplete((r, e) -> system.terminate());
    org.apache.pekko.actor.Address self = members.selfMember().address();
    String address = self.getHost().orElse(cluster.host()) + ":" + self.getPort().orElse(cluster.port());
    return new BagpipeRun(events, result, () -> system.tell(RunGuardian.StopRun.INSTANCE), address,
        system.getWhenTerminated(), system);
  }

  /** The run's event publisher, sized by {@code bagpipe.events}; deliveries run on the common pool. */
  private static EventPublisher events(Config config) {
    return new EventPublisher(ForkJoinPool.commonPool(), EventSettings.fromConfig(config.getConfig("bagpipe.events")).buffer());
  }

  /**
   * Starts Pekko Management's HTTP endpoint (contact point for the other nodes' bootstrap,
   * {@code /ready} and {@code /alive}) and the Cluster Bootstrap, which joins this node to
   * the cluster its discovery method finds or forms one. A management port that cannot be
   * bound ends the node at once, naming the key to change.
   */
  private static void startBootstrap(ActorSystem<?> system) {
    var classic = org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system);
    try {
      org.apache.pekko.management.javadsl.PekkoManagement.get(classic).start()
          .toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
    } catch (Exception e) {
      system.terminate();
      Throwable cause = e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e;
      throw new IllegalStateException("cannot start Pekko Management on "
          + system.settings().config().getString("pekko.management.http.hostname") + ":"
          + system.settings().config().getInt("pekko.management.http.port")
          + " (bagpipe.cluster.host, bagpipe.cluster.bootstrap.management-port): " + cause.getMessage(), cause);
    }
    org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap.get(classic).start();
  }

  /**
   * Sets {@code member} once a seed node let this node in (it is Joining, WeaklyUp or
   * Up). A node's workers can train while it is still Joining, so a node downed that
   * early must still read as a member that was downed, not as one that never joined.
   */
  private static Behavior<ClusterEvent.MemberEvent> memberWatch(AtomicBoolean member) {
    return Behaviors.setup(ctx -> {
      Cluster cluster = Cluster.get(ctx.getSystem());
      cluster.subscriptions().tell(Subscribe.create(ctx.getSelf(), ClusterEvent.MemberEvent.class));
      return Behaviors.receiveMessage(e -> {
        MemberStatus s = e.member().status();
        if (e.member().uniqueAddress().equals(cluster.selfMember().uniqueAddress())
            && (s == MemberStatus.joining() || s == MemberStatus.weaklyUp() || s == MemberStatus.up())) {
          member.set(true);
          return Behaviors.stopped();
        }
        return Behaviors.same();
      });
    });
  }

  /**
   * Reads and checks every setting and the data set; resumes from a checkpoint when asked.
   * A resume is refused when the run directory holds checkpoints none of which can be
   * read, or when the newest good one was written with other settings ({@link ResumeCheck})
   * or does not fit the model; otherwise the metrics lines of the epochs it runs again
   * are dropped ({@link MetricsLog#dropFrom}).
   */
  static RunSpec spec(Config config) {
    return spec(config, -1, false);
  }

  /**
   * As {@link #spec(Config)}; {@code world} > 0 sets the workers over all nodes, else this
   * node's devices; a {@code joining} node neither checks nor reads the run's checkpoints.
   */
  static RunSpec spec(Config config, int world, boolean joining) {
    Config b = config.getConfig("bagpipe");
    SlideSettings slide = SlideSettings.fromConfig(b.getConfig("slide"));

    PlanSettings pixelPlan = PlanSettings.fromConfig(b.getConfig("plan"));
    ModelSettings configuredModel = ModelSettings.fromConfig(b.getConfig("model"));
    OptimizerSettings optimizer = OptimizerSettings.fromConfig(b.getConfig("optimizer"));
    CheckpointSettings checkpoint = CheckpointSettings.fromConfig(b.getConfig("checkpoint"));
    WorkerSettings worker = WorkerSettings.fromConfig(b.getConfig("worker"), gpuCount(b.getConfig("worker")));
    long cpuWorkers = worker.devices().stream().filter("cpu"::equals).count();
    LoaderSettings loader = LoaderSettings.fromConfig(b.getConfig("loader"),
        (int) cpuWorkers * Math.max(1, worker.intraOpThreads()));
    TrainSettings train = TrainSettings.fromConfig(b.getConfig("train"), world > 0 ? world : worker.devices().size());
    DataSet data = DataSet.load(DataSettings.fromConfig(b.getConfig("data")),
        // At target-mpp a patch's level-0 side depends on each slide's mpp, which only the loader knows.
        FoldSettings.fromConfig(b.getConfig("plan.folds")),
        pixelPlan.level() == 0 && pixelPlan.targetMpp() == 0 ? pixelPlan.patchSize() : 0);
    // On feature files (bagpipe.data.features) bags are rows of D features and the model is pooling + head.
    PlanSettings plan = pixelPlan.withFeatureDim(data.featureDim());
    ModelSettings model = data.featureDim() == 0 ? configuredModel
        : new ModelSettings(new EncoderSpec.Features(data.featureDim()), configuredModel.pooling(),
            configuredModel.attentionDim(), configuredModel.classes(), configuredModel.seed(), configuredModel.zoo(),
            false);
    String encoderName = data.featureDim() == 0 ? b.getString("model.encoder") : "features";
    ClassMap classes = data.classes().named() ? data.classes() : ClassMap.indices(model.classes());
    if (classes.size() != model.classes()) {
      throw new IllegalArgumentException(data.manifest().path() + ": its labels name " + classes.size() + " classes "
          + classes + " but bagpipe.model.classes = " + model.classes() + "; set bagpipe.model.classes = "
          + classes.size() + (data.classes().named() ? " or list the classes in bagpipe.data.classes" : ""));
    }
    for (SlideEntry e : data.manifest().slides()) {
      if (e.label() >= model.classes()) {
        throw new IllegalArgumentException(data.manifest().path() + " line " + e.line() + ": label " + e.label()
            + " of slide '" + e.slideId() + "' is not below bagpipe.model.classes = " + model.classes());
      }
    }
    if (data.manifest().hasSplits()) {
      if (data.train().isEmpty()) {
        throw new IllegalArgumentException("no training slides: no row of " + data.manifest().path()
            + " has split = train");
      }
    } else if (data.validation().isEmpty() && !b.getString("plan.folds.val").isBlank()) {
      throw new IllegalArgumentException("no validation slides: folds " + b.getString("plan.folds.val") + " of "
          + data.manifest().path() + " are empty (bagpipe.plan.folds.val; use \"\" to train without validation)");
    }
    if (data.train().isEmpty()) {
      throw new IllegalArgumentException("no training slides: folds " + b.getString("plan.folds.train")
          + " of " + data.manifest().path() + " are empty (bagpipe.plan.folds.train)");
    }
    DataDigest digest = DataDigest.of(data);
    try {
      Files.createDirectories(train.runDir());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the run directory " + train.runDir() + " (bagpipe.train.run-dir)", e);
    }
    ResumeCheck recorded = new ResumeCheck(encoderName, b.getString("model.pooling"), model.classes(),
        plan.seed(), plan.bagsPerStep(), train.workers(), plan.patchSize(), classes.joined(), digest.total(),
        b.getBoolean("train.resume-despite-changes"));
    RunState start = RunState.start(plan.seed(), checkpoint.bestMetric(), withInput(recorded.extras(), model, worker, plan, b.getString("model.torchscript-path"), data));
    MetricsLog metrics = new MetricsLog(train.runDir().resolve("metrics.jsonl"));
    Optional<Checkpoint> resume = Optional.empty();
    if (!train.resume() && !joining) {
      try {
        if (!CheckpointStore.open(checkpoint, train.runDir()).versionedFiles().isEmpty()) {
          throw new IllegalArgumentException("the run directory " + train.runDir() + " holds checkpoints of an earlier run;"
              + " set bagpipe.train.resume = true to continue it, or choose another bagpipe.train.run-dir");
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read checkpoints in " + train.runDir().resolve(checkpoint.dir()), e);
      }
    }
    if (train.resume() && !joining) {
      Optional<Recovery.Found> latest;
      try {
        latest = CheckpointStore.open(checkpoint, train.runDir()).latest();
      } catch (CheckpointException e) { // says which file or folder, and what to do
        throw new UncheckedIOException(e.getMessage(), e);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read checkpoints in " + train.runDir().resolve(checkpoint.dir()), e);
      }
      if (latest.isPresent()) {
        // Before any actor starts: a worker could not load it, or would continue another plan.
        recorded.check(latest.get().file(), latest.get().checkpoint(), model,
            Provenance.changedFiles(train.runDir(), digest));
        resume = Optional.of(latest.get().checkpoint());
        String frozen = resume.get().state().extras().get("freeze_encoder");
        if (frozen != null && !frozen.equals(Boolean.toString(model.freezeEncoder()))) {
          // the optimizer state of a frozen run lacks the encoder's buffers, and the other way round
          throw new IllegalArgumentException("cannot resume from " + latest.get().file() + " (bagpipe.train.resume = true):"
              + " it was written with bagpipe.model.freeze-encoder = " + frozen + ", the configuration has "
              + model.freezeEncoder() + "; restore it, or start a new run in another bagpipe.train.run-dir");
        }
        start = recorded.resumeFrom(resume.get().state());
        start = start.withExtras(withInput(start.extras(), model, worker, plan, b.getString("model.torchscript-path"), data));
        try {
          metrics.dropFrom(start.epoch()); // lines of epochs this run trains again
        } catch (IOException e) {
          throw new UncheckedIOException("cannot drop the lines of epoch " + start.epoch() + " and later from "
              + metrics.file() + " before resuming", e);
        }
      }
    }
    if (!joining) {
      Provenance.write(train.runDir(), config, classes, digest);
    }
    Optional<Checkpoint> from = resume;
    TrainingHabits habits = habits(b, optimizer, plan, train, data, model.classes(), start);
    TorchThreads.configure(worker.intraOpThreads());
    ReplicaFactory replicas = device -> {
      Replica r = new DjlReplica(model, optimizer, worker, device, plan.patchSize(), habits);
      from.ifPresent(c -> r.load(c.parameters(), c.optimizerState()));
      return r;
    };
    return new RunSpec(slide, loader, worker, train, ElasticSettings.fromConfig(b.getConfig("elastic")), plan, checkpoint, data, model.classes(), start, replicas,
        metrics, step -> habits.schedule().lr(optimizer.lr(), step),
        MetricsSettings.fromConfig(b.getConfig("metrics")),
        SecuritySettings.fromConfig(b.getConfig("security")).issuerSeal());
  }

  /**
   * The learning-rate schedule, clipping, class weights and augmentation of the run. Schedule
   * lengths in epochs become steps with the steps of epoch 0's plan over all slides, with the
   * bags per step the run started with ({@code step_bags} of a resumed run's state), so a
   * resume or another ring size gives the same rate at the same global step.
   */
  private static TrainingHabits habits(Config b, OptimizerSettings optimizer, PlanSettings plan, TrainSettings train,
      DataSet data, int classes, RunState start) {
    String started = start.extras().get("step_bags");
    int stepBags = started != null ? Integer.parseInt(started) : train.workers() * plan.bagsPerStep();
    long stepsPerEpoch = TrainSchedule.of(EpochPlan.training(0, data.train(), data.coordinates(), plan), stepBags).steps();
    LrSchedule schedule = LrSchedule.fromConfig(b.getConfig("optimizer"), stepsPerEpoch, train.epochs());
    double clipNorm = b.getDouble("optimizer.clip-norm");
    if (!(clipNorm >= 0) || Double.isInfinite(clipNorm)) {
      throw new ConfigException.BadValue(b.getValue("optimizer.clip-norm").origin(), "bagpipe.optimizer.clip-norm",
          "must be >= 0 (0: no clipping), got " + clipNorm);
    }
    float[] weights = ClassWeights.fromConfig(b.getConfig("train"), data.train(), classes);
    AugmentSettings augment = AugmentSettings.fromConfig(b.getConfig("augment"));
    return new TrainingHabits(schedule, clipNorm, weights, augment, plan.seed());
  }

  /**
   * {@code extras} plus what {@code bagpipe predict} and {@code export} need to rebuild the model
   * from a checkpoint alone: the attention size, the zoo's hyper-parameters ({@code model.<key>} for
   * each {@code bagpipe.model} key of {@link io.bagpipe.model.ZooSettings#KEYS}), the pyramid level or target mpp, a
   * TorchScript encoder's file and the input normalisation. A resume does not compare them: a model that differs in them fails the
   * parameter check, and the normalisation may change.
   */
  private static Map<String, String> withInput(Map<String, String> extras, ModelSettings model, WorkerSettings worker,
      PlanSettings plan, String torchscriptPath, DataSet data) {
    Map<String, String> out = new LinkedHashMap<>(extras);
    out.put("attention_dim", Integer.toString(model.attentionDim()));
    out.put("level", Integer.toString(plan.level()));
    out.put("torchscript_path", torchscriptPath);
    out.put("freeze_encoder", Boolean.toString(model.freezeEncoder()));
    model.zoo().asKeys().forEach((k, v) -> out.put("model." + k, v)); // the zoo's shapes: predict rebuilds from these
    if (data.featureDim() > 0) { // an aggregator on features of this encoder; predict and export refuse it
      out.put("feature_dim", Integer.toString(data.featureDim()));
      StringBuilder encoder = new StringBuilder();
      data.featureEncoder().forEach((k, v) -> {
        if (!k.equals("slide_id")) {
          encoder.append(encoder.isEmpty() ? "" : ";").append(k).append('=').append(v);
        }
      });
      out.put("features_encoder", encoder.toString());
    }
    out.put("target_mpp", Double.toString(plan.targetMpp()));
    out.put("normalize_mean", worker.mean()[0] + "," + worker.mean()[1] + "," + worker.mean()[2]);
    out.put("normalize_std", worker.std()[0] + "," + worker.std()[1] + "," + worker.std()[2]);
    return out;
  }

  private static int gpuCount(Config worker) {
    return worker.getValue("devices").unwrapped() instanceof String ? Engine.getInstance().getGpuCount() : 0;
  }

}
