package io.bagpipe.coordinator;

import io.bagpipe.api.RunEvent;
import io.bagpipe.api.RunResult;
import io.bagpipe.bag.BagRef;
import io.bagpipe.bag.DataSet;
import io.bagpipe.bag.EpochPlan;
import io.bagpipe.bag.EvalSchedule;
import io.bagpipe.bag.PlanSettings;
import io.bagpipe.bag.TrainSchedule;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.serialization.BagpipeMessage;
import io.bagpipe.serialization.NodeLocal;
import io.bagpipe.worker.Worker;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * Runs a training run: plans each epoch, assigns bags to workers, keeps the epoch
 * barrier, merges metrics, has checkpoints written, and decides what failures
 * mean. It carries no pixels and no gradients: only bag coordinates, step
 * reports and metrics pass through it.
 *
 * <p>Phases: {@code awaitingWorkers} (workers found through the Receptionist are
 * introduced; once {@code bagpipe.train} needs are met the ring is formed with a
 * generation number and each worker gets its rank and the ranks' data addresses) →
 * {@code training(epoch)} (each worker got its share of the epoch's lockstep
 * steps; the Coordinator counts {@link StepDone}s) → barrier when every worker
 * finished every step → {@code validating(epoch)} (validation bags spread over the
 * workers, each evaluated exactly once) → {@code checkpointing(epoch)} → the next
 * epoch, or done. {@link Stop} in training halts all workers after one common
 * step (see {@link Worker.Halt}), writes a checkpoint at that plan position and
 * completes; {@code stopping} waits for that. A lost worker (its actor terminated,
 * or {@link RingBroken} from a worker whose ring neighbour vanished) ends the run
 * in any phase, as {@link FailurePolicy} decides; the newest checkpoint stays.
 */
public final class Coordinator {

  private Coordinator() {}

  /** Messages the Coordinator accepts. */
  public sealed interface Command extends BagpipeMessage
      permits WorkerReady, RingJoined, StepDone, BagSkipped, RingBroken, Evaluated, CheckpointWritten, Halted, Stop,
          WorkersListed, WorkerTerminated {}

  /**
   * A worker found through the Receptionist answered {@link Worker.Introduce}: its
   * device and the data address its peers reach its all-reduce at.
   */
  public record WorkerReady(String device, String address, ActorRef<Worker.Command> worker) implements Command {}

  /** A worker took its rank in ring {@code generation}. */
  public record RingJoined(long generation, int rank) implements Command {}

  /**
   * A worker completed {@code step} of {@code epoch}: it trained {@code bags} bags
   * (with {@code lossSum} their summed loss), and the step applied
   * {@code stepBags} bags over all workers.
   */
  public record StepDone(int rank, int epoch, int step, int bags, int stepBags, double lossSum, StageNanos times)
      implements Command {}

  /** Nanoseconds a worker spent per stage in one step. */
  public record StageNanos(long decodeWait, long upload, long forward, long backward, long allReduce, long optimizer) {
    StageNanos plus(StageNanos o) {
      return new StageNanos(decodeWait + o.decodeWait, upload + o.upload, forward + o.forward,
          backward + o.backward, allReduce + o.allReduce, optimizer + o.optimizer);
    }
  }

  /**
   * A worker's all-reduce of {@code step} of {@code epoch} failed because ring
   * {@code generation} broke: {@code peerRank} (-1 when unknown) is the neighbour it
   * lost, {@code reason} says how. The worker discarded the step's gradient and is
   * idle; the Coordinator decides what follows.
   */
  public record RingBroken(int rank, long generation, int epoch, int step, int peerRank, String reason)
      implements Command {}

  /** A worker skipped a bag it could not get decoded; {@code reason} names the slide and the cause. */
  public record BagSkipped(int rank, int epoch, long bagKey, String slideId, String reason) implements Command {}

  /**
   * A worker's validation results for the bags it was given, and the digest of
   * its parameters (all replicas must report the same one).
   */
  public record Evaluated(int rank, int epoch, List<BagScore> scores, long parameterDigest) implements Command {
    public Evaluated {
      scores = List.copyOf(scores);
    }
  }

  /** One validation bag's class probabilities and loss. */
  public record BagScore(long key, String slideId, int label, float[] probabilities, double loss) {}

  /** A worker wrote (or failed to write, {@code error} non-empty) the checkpoint of {@code state}. */
  public record CheckpointWritten(int rank, RunState state, String last, String best, String error)
      implements Command {}

  /**
   * A worker stopped training after a halt; {@code nextStep} is the first step of
   * {@code epoch} it did not take, or -1 when it was idle.
   */
  public record Halted(int rank, int epoch, int nextStep) implements Command {}

  /** Stop the run gracefully: finish the current step, checkpoint, complete. */
  public enum Stop implements Command {
    INSTANCE
  }

  private record WorkerTerminated(int rank) implements Command {}

  /** The Receptionist's current list of the run's workers (adapted, node-local). */
  private record WorkersListed(java.util.Set<ActorRef<Worker.Command>> workers) implements Command, NodeLocal {}

  /**
   * Everything a Coordinator needs.
   *
   * @param start where the run begins: {@code RunState.start(...)} or a checkpoint's state
   * @param classes number of classes of the slide labels
   * @param maximize whether a larger {@code start.bestMetric()} is better
   */
  public record Setup(TrainSettings train, PlanSettings plan, DataSet data, int classes, RunState start,
      boolean maximize, MetricsLog metrics, ActorRef<RunEvent> events, ServiceKey<Worker.Command> workersKey) {}

  public static Behavior<Command> create(Setup setup) {
    return Behaviors.setup(ctx -> {
      ctx.getSystem().receptionist().tell(Receptionist.subscribe(setup.workersKey(),
          ctx.messageAdapter(Receptionist.Listing.class, l -> new WorkersListed(l.getServiceInstances(setup.workersKey())))));
      return new Coordinator.Run(ctx, setup).awaitingWorkers();
    });
  }

  private static final class Run {
    private final ActorContext<Command> ctx;
    private final Setup setup;
    private final int world;
    private final EpochPlan validation;
    private final Map<Integer, ActorRef<Worker.Command>> workers = new TreeMap<>();
    /** Workers that answered {@link Worker.Introduce}, before they have a rank. */
    private final Map<ActorRef<Worker.Command>, WorkerReady> ready = new java.util.HashMap<>();
    private final java.util.Set<ActorRef<Worker.Command>> introduced = new java.util.HashSet<>();
    private long generation;
    /** Workers that acknowledged ring {@link #generation}. */
    private int joined;
    private RunState state;
    private EpochRecord lastRecord;
    private String lastCheckpoint = "";
    private String bestCheckpoint = "";
    private int epochsCompleted;
    private boolean stopRequested;
    private EpochRun current;

    Run(ActorContext<Command> ctx, Setup setup) {
      this.ctx = ctx;
      this.setup = setup;
      this.world = setup.train().workers();
      this.state = setup.start();
      this.validation = EpochPlan.validation(setup.data().validation(), setup.data().coordinates(), setup.plan());
    }

    // ------------------------------------------------------------------ phases

    Behavior<Command> awaitingWorkers() {
      return Behaviors.receive(Command.class)
          .onMessage(WorkersListed.class, this::listed)
          .onMessage(WorkerReady.class, this::workerReady)
          .onMessage(RingJoined.class, this::ringJoined)
          .onMessage(WorkerTerminated.class, this::workerLost)
          .onMessageEquals(Stop.INSTANCE, () -> complete(true))
          .onAnyMessage(m -> unexpected(m, "awaiting workers"))
          .build();
    }

    private Behavior<Command> training(EpochRun run) {
      return Behaviors.receive(Command.class)
          .onMessage(StepDone.class, m -> stepDone(run, m))
          .onMessage(BagSkipped.class, m -> skipped(m, () -> training(run)))
          .onMessage(RingBroken.class, this::ringBroken)
          .onMessage(WorkerTerminated.class, this::workerLost)
          .onMessageEquals(Stop.INSTANCE, () -> halt(run))
          .onAnyMessage(m -> unexpected(m, "training"))
          .build();
    }

    private Behavior<Command> stopping(EpochRun run, int halted, int nextStep) {
      return Behaviors.receive(Command.class)
          .onMessage(StepDone.class, m -> {
            run.add(m);
            return Behaviors.same();
          })
          .onMessage(Halted.class, m -> {
            int next = Math.max(nextStep, m.nextStep() < 0 ? run.stepsDone() : m.nextStep());
            if (halted + 1 < world) {
              return stopping(run, halted + 1, next);
            }
            RunState at = state.at(run.epoch, next, run.firstGlobalStep + next - run.firstStep);
            return checkpointing(at, false, () -> complete(true));
          })
          .onMessage(BagSkipped.class, m -> skipped(m, Behaviors::same))
          .onMessage(RingBroken.class, this::ringBroken)
          .onMessage(WorkerTerminated.class, this::workerLost)
          .onMessageEquals(Stop.INSTANCE, Behaviors::same)
          .onAnyMessage(m -> unexpected(m, "stopping"))
          .build();
    }

    private Behavior<Command> validating(EpochRun run, Validation v) {
      return Behaviors.receive(Command.class)
          .onMessage(Evaluated.class, m -> evaluated(run, v, m))
          .onMessage(BagSkipped.class, m -> {
            v.skipped++;
            return skipped(m, Behaviors::same);
          })
          .onMessage(WorkerTerminated.class, this::workerLost)
          .onMessageEquals(Stop.INSTANCE, this::requestStop)
          .onAnyMessage(m -> unexpected(m, "validating"))
          .build();
    }

    private Behavior<Command> checkpointing(RunState at, boolean best, java.util.function.Supplier<Behavior<Command>> then) {
      // Rank 0 writes; every replica is identical, so any one would do.
      workers.get(0).tell(new Worker.SaveCheckpoint(at, best, ctx.getSelf()));
      return Behaviors.receive(Command.class)
          .onMessage(CheckpointWritten.class, m -> {
            if (m.error().isEmpty()) {
              lastCheckpoint = m.last();
              if (!m.best().isEmpty()) {
                bestCheckpoint = m.best();
              }
              setup.events().tell(new RunEvent.CheckpointSaved(m.state().epoch(), m.state().step(), m.last(), m.best()));
            } else {
              ctx.getLog().warn("checkpoint of epoch {} failed: {}", m.state().epoch(), m.error());
              setup.events().tell(new RunEvent.CheckpointFailed(m.state().epoch(), m.error()));
            }
            state = at;
            return then.get();
          })
          .onMessage(WorkerTerminated.class, this::workerLost)
          .onMessageEquals(Stop.INSTANCE, this::requestStop)
          .onAnyMessage(m -> unexpected(m, "checkpointing"))
          .build();
    }

    // ------------------------------------------------------------------ workers

    private Behavior<Command> listed(WorkersListed m) {
      for (ActorRef<Worker.Command> w : m.workers()) {
        if (introduced.add(w)) {
          w.tell(new Worker.Introduce(ctx.getSelf()));
        }
      }
      return Behaviors.same();
    }

    /**
     * Forms ring generation 1 once {@code world} workers are ready: ranks follow
     * the workers' actor paths (stable, the same whoever asks), and every worker
     * learns every rank's data address.
     */
    private Behavior<Command> workerReady(WorkerReady m) {
      if (generation > 0 || ready.containsKey(m.worker())) {
        return Behaviors.same();
      }
      ready.put(m.worker(), m);
      if (ready.size() < world) {
        return Behaviors.same();
      }
      generation = 1;
      List<WorkerReady> ring = ready.values().stream()
          .sorted(java.util.Comparator.comparing(r -> r.worker().path().toString())).toList();
      List<String> addresses = ring.stream().map(WorkerReady::address).toList();
      for (int rank = 0; rank < ring.size(); rank++) {
        ActorRef<Worker.Command> w = ring.get(rank).worker();
        workers.put(rank, w);
        ctx.watchWith(w, new WorkerTerminated(rank));
        w.tell(new Worker.JoinRing(generation, rank, addresses, ctx.getSelf()));
      }
      return Behaviors.same();
    }

    private Behavior<Command> ringJoined(RingJoined m) {
      if (m.generation() != generation || ++joined < world) {
        return Behaviors.same();
      }
      for (Map.Entry<Integer, ActorRef<Worker.Command>> w : workers.entrySet()) {
        setup.events().tell(new RunEvent.WorkerJoined(w.getKey(), ready.get(w.getValue()).device()));
      }
      setup.events().tell(new RunEvent.RunStarted(setup.train().runDir().toString(), world, setup.train().epochs(),
          state.epoch(), state.step(), setup.data().train().size(), setup.data().validation().size()));
      return startEpoch();
    }

    private Behavior<Command> ringBroken(RingBroken m) {
      ActorRef<Worker.Command> peer = workers.get(m.peerRank());
      String who = peer == null ? "" : " (rank " + m.peerRank() + " is " + peer.path() + ")";
      return switch (FailurePolicy.ringBroken(m.rank(), m.epoch(), m.step(), m.reason() + who)) {
        case FailureDecision.Abort(String reason) -> fail(reason);
        case FailureDecision.Skip(String report) -> Behaviors.same();
      };
    }

    private Behavior<Command> workerLost(WorkerTerminated m) {
      setup.events().tell(new RunEvent.WorkerLeft(m.rank(), "stopped"));
      return switch (FailurePolicy.workerStopped(m.rank(), world)) {
        case FailureDecision.Abort(String reason) -> fail(reason);
        case FailureDecision.Skip(String report) -> Behaviors.same();
      };
    }

    // ------------------------------------------------------------------ training

    /** Progress of one epoch's training, merged over workers. */
    private final class EpochRun {
      final int epoch;
      final int firstStep;
      final long firstGlobalStep;
      final int steps;
      final int[] reportsPerStep;
      final long startNanos = System.nanoTime();
      int completedSteps;
      int bags;
      int skippedBags;
      double lossSum;
      StageNanos times = new StageNanos(0, 0, 0, 0, 0, 0);
      int reports;
      double trainSeconds;

      EpochRun(int epoch, int firstStep, long firstGlobalStep, int steps) {
        this.epoch = epoch;
        this.firstStep = firstStep;
        this.firstGlobalStep = firstGlobalStep;
        this.steps = steps;
        this.reportsPerStep = new int[steps];
      }

      /** Adds a report; returns true when it completed its step on every worker. */
      boolean add(StepDone m) {
        bags += m.bags();
        lossSum += m.lossSum();
        times = times.plus(m.times());
        reports++;
        if (++reportsPerStep[m.step()] == world) {
          completedSteps++;
          return true;
        }
        return false;
      }

      int stepsDone() {
        return firstStep + completedSteps;
      }

      double seconds() {
        return (System.nanoTime() - startNanos) / 1e9;
      }
    }

    private Behavior<Command> startEpoch() {
      if (state.epoch() >= setup.train().epochs()) {
        return complete(false);
      }
      int epoch = state.epoch();
      EpochPlan plan = EpochPlan.training(epoch, setup.data().train(), setup.data().coordinates(), setup.plan());
      TrainSchedule schedule = TrainSchedule.of(plan, world, setup.plan().bagsPerStep());
      int firstStep = (int) Math.min(state.step(), schedule.steps());
      EpochRun run = new EpochRun(epoch, firstStep, state.globalStep(), schedule.steps());
      current = run;
      setup.events().tell(new RunEvent.EpochStarted(epoch, schedule.steps(), firstStep, plan.size()));
      if (firstStep == schedule.steps()) {
        return startValidation(run);
      }
      for (Map.Entry<Integer, ActorRef<Worker.Command>> w : workers.entrySet()) {
        List<List<BagRef>> mine = new ArrayList<>(schedule.steps() - firstStep);
        for (int s = firstStep; s < schedule.steps(); s++) {
          mine.add(schedule.bagsFor(s, w.getKey()));
        }
        w.getValue().tell(new Worker.TrainSteps(epoch, firstStep, state.globalStep(), mine, ctx.getSelf()));
      }
      return training(run);
    }

    private Behavior<Command> stepDone(EpochRun run, StepDone m) {
      if (m.epoch() != run.epoch) {
        return unexpected(m, "training epoch " + run.epoch);
      }
      if (run.add(m)) {
        setup.events().tell(new RunEvent.StepCompleted(run.epoch, run.stepsDone(), run.steps,
            run.bags == 0 ? Double.NaN : run.lossSum / run.bags, run.bags / Math.max(run.seconds(), 1e-9), run.bags));
      }
      if (run.reports == world * (run.steps - run.firstStep)) {
        run.trainSeconds = run.seconds();
        return startValidation(run);
      }
      return Behaviors.same();
    }

    private Behavior<Command> skipped(BagSkipped m, java.util.function.Supplier<Behavior<Command>> phase) {
      if (m.epoch() >= 0 && current != null) {
        current.skippedBags++;
      }
      return switch (FailurePolicy.bagFailed(m.epoch(), m.bagKey(), m.slideId(), m.reason())) {
        case FailureDecision.Skip(String report) -> {
          ctx.getLog().warn(report);
          setup.events().tell(new RunEvent.BagSkipped(m.epoch(), m.bagKey(), m.slideId(), m.reason()));
          yield phase.get();
        }
        case FailureDecision.Abort(String reason) -> fail(reason);
      };
    }

    private Behavior<Command> halt(EpochRun run) {
      for (ActorRef<Worker.Command> w : workers.values()) {
        w.tell(new Worker.Halt(ctx.getSelf()));
      }
      return stopping(run, 0, run.stepsDone());
    }

    // ------------------------------------------------------------------ validation

    /** Validation results of one epoch, merged over workers. */
    private static final class Validation {
      final SlidePredictions predictions;
      final long startNanos = System.nanoTime();
      int reported;
      int skipped;
      long digest;
      int digestRank;

      Validation(int classes) {
        predictions = new SlidePredictions(classes);
      }
    }

    private Behavior<Command> startValidation(EpochRun run) {
      EvalSchedule schedule = EvalSchedule.of(validation, world);
      setup.events().tell(new RunEvent.ValidationStarted(run.epoch, validation.size()));
      for (Map.Entry<Integer, ActorRef<Worker.Command>> w : workers.entrySet()) {
        w.getValue().tell(new Worker.Evaluate(run.epoch, schedule.bagsFor(w.getKey()), ctx.getSelf()));
      }
      return validating(run, new Validation(setup.classes()));
    }

    private Behavior<Command> evaluated(EpochRun run, Validation v, Evaluated m) {
      for (BagScore s : m.scores()) {
        double[] p = new double[s.probabilities().length];
        for (int i = 0; i < p.length; i++) {
          p[i] = s.probabilities()[i];
        }
        v.predictions.add(new BagPrediction(s.key(), s.slideId(), s.label(), p, s.loss()));
      }
      if (v.reported == 0) {
        v.digest = m.parameterDigest();
        v.digestRank = m.rank();
      } else if (v.digest != m.parameterDigest()) {
        return fail(String.format("replicas diverged after epoch %d: worker %d's parameters differ from worker %d's"
            + " (digest %016x vs %016x); this is a bug, please report it", run.epoch + 1, m.rank(),
            v.digestRank, m.parameterDigest(), v.digest));
      }
      if (++v.reported < world) {
        return Behaviors.same();
      }
      return recordEpoch(run, v, epochRecord(run, v));
    }

    /** The epoch's merged record: training from the step reports, validation per slide. */
    private EpochRecord epochRecord(EpochRun run, Validation v) {
      ClassificationMetrics m = v.predictions.bags() == 0 ? null : ClassificationMetrics.of(v.predictions);
      int workerSteps = Math.max(1, run.reports);
      StageNanos t = run.times;
      StageTimes stages = new StageTimes(t.decodeWait() / 1e6 / workerSteps, t.upload() / 1e6 / workerSteps,
          t.forward() / 1e6 / workerSteps, t.backward() / 1e6 / workerSteps, t.allReduce() / 1e6 / workerSteps,
          t.optimizer() / 1e6 / workerSteps);
      double nan = Double.NaN;
      return new EpochRecord(run.epoch, run.bags == 0 ? nan : run.lossSum / run.bags, m == null ? nan : m.loss(),
          m == null ? nan : m.accuracy(), m == null ? nan : m.auc(), m == null ? null : m.confusion(),
          run.trainSeconds > 0 ? run.bags / run.trainSeconds : 0, run.bags, v.predictions.bags(),
          run.seconds(), stages, new java.util.TreeMap<>(Map.of("skipped_bags", run.skippedBags + v.skipped,
              "val_seconds", (System.nanoTime() - v.startNanos) / 1e9,
              "replica_digest", String.format("%016x", v.digest))));
    }

    private Behavior<Command> recordEpoch(EpochRun run, Validation v, EpochRecord record) {
      lastRecord = record;
      epochsCompleted++;
      try {
        setup.metrics().append(record);
      } catch (java.io.IOException e) {
        ctx.getLog().warn("cannot append to {}: {}", setup.metrics().file(), e.getMessage());
      }
      setup.events().tell(new RunEvent.EpochCompleted(record));
      double value = record.metric(state.bestMetric());
      // Ties go to the later epoch: with few validation slides AUC saturates early, and
      // the later model has trained longer at the same score.
      boolean better = !Double.isNaN(value)
          && (!state.hasBest() || (setup.maximize() ? value >= state.bestValue() : value <= state.bestValue()));
      if (better) {
        state = state.withBest(value, run.epoch);
      }
      long globalStep = run.firstGlobalStep + (run.steps - run.firstStep);
      RunState next = state.at(run.epoch + 1, 0, globalStep);
      return checkpointing(next, better, () -> stopRequested ? complete(true) : startEpoch());
    }

    // ------------------------------------------------------------------ endings

    private Behavior<Command> complete(boolean stopped) {
      RunResult result = new RunResult(epochsCompleted, stopped, state.bestMetric(), state.bestValue(),
          state.bestEpoch(), lastRecord, lastCheckpoint, bestCheckpoint);
      setup.events().tell(new RunEvent.RunCompleted(result));
      return finish();
    }

    private Behavior<Command> fail(String reason) {
      // Said once, where the user looks: the RunFailed event (the CLI's "run failed:"
      // line, the embedding API's RunFailedException); the log keeps a quiet copy.
      ctx.getLog().info("run failed: {}", reason);
      setup.events().tell(new RunEvent.RunFailed(reason));
      return finish();
    }

    private Behavior<Command> finish() {
      for (ActorRef<Worker.Command> w : workers.values()) {
        ctx.unwatch(w);
        w.tell(Worker.Stop.INSTANCE);
      }
      return Behaviors.stopped();
    }

    /** A stop outside training takes effect at the next phase boundary. */
    private Behavior<Command> requestStop() {
      stopRequested = true;
      return Behaviors.same();
    }

    private Behavior<Command> unexpected(Command m, String phase) {
      if (m instanceof WorkersListed) {
        // Membership changes after the ring formed: a lost worker is handled by its watch.
        ctx.getLog().debug("coordinator ignores {} while {}", m, phase);
      } else {
        ctx.getLog().warn("coordinator ignores {} while {}", m, phase);
      }
      return Behaviors.same();
    }
  }
}
