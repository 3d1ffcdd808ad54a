package io.bagpipe.worker;

import io.bagpipe.allreduce.AllReduce;
import io.bagpipe.allreduce.AllReduceFactory;
import io.bagpipe.allreduce.RingBrokenException;
import io.bagpipe.bag.BagRef;
import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.coordinator.Coordinator;
import io.bagpipe.loader.DecodedBag;
import io.bagpipe.loader.LoaderPool;
import io.bagpipe.serialization.BagpipeMessage;
import io.bagpipe.serialization.NodeLocal;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Owns one device and one model {@link Replica}, and turns the bags the
 * Coordinator assigns into optimizer steps.
 *
 * <p>Phases: {@code idle} (no work) → {@code training} (decoding ahead, training
 * the bags of the current step) → {@code reducing} (gradient handed to the
 * all-reduce; the next bags keep decoding meanwhile) → back to {@code training}
 * for the next step or {@code idle} after the last, or {@code idle} when the ring
 * broke (the step's gradient is discarded and {@link Coordinator.RingBroken}
 * reported); {@code evaluating} runs the validation bags forward only.
 *
 * <p>Bags are pulled from the node's {@link LoaderPool}: at most
 * {@code prefetch-bags} are requested or decoded-and-waiting at a time, so a slow
 * worker never makes loaders pile up memory. A bag that fails to decode is
 * reported ({@link Coordinator.BagSkipped}) and contributes weight 0 to its step;
 * the worker still joins the step's all-reduce, so the replicas stay in lockstep.
 */
public final class Worker {

  private Worker() {}

  /** Messages a worker accepts. */
  public sealed interface Command extends BagpipeMessage
      permits Introduce, JoinRing, TrainSteps, Evaluate, SaveCheckpoint, Halt, Stop, BagArrived, ReduceDone {}

  /**
   * Say who you are: sent by the Coordinator to a worker it found through the
   * Receptionist; answered by {@link Coordinator.WorkerReady} with the worker's
   * device and data address.
   */
  public record Introduce(ActorRef<Coordinator.Command> replyTo) implements Command {}

  /**
   * Take {@code rank} in ring {@code generation}, whose ranks' data addresses are
   * {@code addresses} (rank order). Answered by {@link Coordinator.RingJoined}; the
   * worker trains only in the ring it last joined.
   */
  public record JoinRing(long generation, int rank, List<String> addresses, ActorRef<Coordinator.Command> replyTo)
      implements Command {
    public JoinRing {
      addresses = List.copyOf(addresses);
    }
  }

  /**
   * Train these steps of {@code epoch}, in order; {@code steps.get(i)} holds this
   * worker's bags of step {@code firstStep + i} (possibly none). Sent by the
   * Coordinator; the worker answers {@link Coordinator.StepDone} per step.
   */
  public record TrainSteps(int epoch, int firstStep, long firstGlobalStep, List<List<BagRef>> steps,
      ActorRef<Coordinator.Command> replyTo) implements Command {
    public TrainSteps {
      steps = List.copyOf(steps);
    }
  }

  /** Evaluate these validation bags; answered by one {@link Coordinator.Evaluated}. */
  public record Evaluate(int epoch, List<BagRef> bags, ActorRef<Coordinator.Command> replyTo) implements Command {
    public Evaluate {
      bags = List.copyOf(bags);
    }
  }

  /**
   * Write a checkpoint of this replica with {@code state}: always as the newest
   * versioned one, and as {@code best.ckpt} too when {@code best}. Answered by
   * {@link Coordinator.CheckpointWritten}.
   */
  public record SaveCheckpoint(RunState state, boolean best, ActorRef<Coordinator.Command> replyTo)
      implements Command {}

  /**
   * Stop training after the current step (graceful stop). The request travels as a
   * bit with the worker's next all-reduce contribution; every rank sees the OR of
   * the bits with the same round's result and stops after that same step, so the
   * replicas stay identical and no step is half taken. Answered by
   * {@link Coordinator.Halted} once the worker is idle.
   */
  public record Halt(ActorRef<Coordinator.Command> replyTo) implements Command {}

  /** Release the replica and stop. */
  public enum Stop implements Command {
    INSTANCE
  }

  private record BagArrived(LoaderPool.Loaded loaded) implements Command, NodeLocal {}

  private record ReduceDone(AllReduce.Reduced reduced, Throwable failure) implements Command, NodeLocal {}

  /**
   * A worker on {@code device} that registers itself under {@code key} with the
   * Receptionist, where the run's Coordinator finds it.
   *
   * @param replica created on the worker's own thread, closed when it stops
   * @param allReduce makes the worker's all-reduce when it joins a ring
   */
  public static Behavior<Command> create(
      String device,
      Supplier<Replica> replica,
      AllReduceFactory allReduce,
      ActorRef<LoaderPool.Command> loaders,
      int prefetchBags,
      Path checkpointDir,
      int keepCheckpoints,
      ServiceKey<Command> key) {
    return Behaviors.setup(
        ctx -> {
          ctx.getSystem().receptionist().tell(Receptionist.register(key, ctx.getSelf()));
          return new Worker.Running(ctx, device, replica.get(), allReduce, loaders, prefetchBags,
              new CheckpointStore(checkpointDir, keepCheckpoints)).idle();
        });
  }

  /** The state shared by all phases. */
  private static final class Running {
    private final ActorContext<Command> ctx;
    private final String device;
    private final Replica replica;
    private final AllReduceFactory allReduceFactory;
    /** Place and all-reduce in the ring last joined; -1 and null before the first. */
    private int rank = -1;
    private AllReduce allReduce;
    private final ActorRef<LoaderPool.Command> loaders;
    private final ActorRef<LoaderPool.Loaded> loadedAdapter;
    private final int prefetch;
    private final CheckpointStore checkpoints;
    private final float[] gradient;

    /** Bags not yet requested, in the order they will be used. */
    private final ArrayDeque<BagRef> toRequest = new ArrayDeque<>();
    /** Arrived bags (decoded or failed), by bag key, until used. */
    private final Map<Long, LoaderPool.Loaded> arrived = new HashMap<>();
    /** Requested or arrived but not yet used: bounded by {@code prefetch}. */
    private int inFlight;

    Running(ActorContext<Command> ctx, String device, Replica replica, AllReduceFactory allReduceFactory,
        ActorRef<LoaderPool.Command> loaders, int prefetch, CheckpointStore checkpoints) {
      this.ctx = ctx;
      this.device = device;
      this.replica = replica;
      this.allReduceFactory = allReduceFactory;
      this.loaders = loaders;
      this.loadedAdapter = ctx.messageAdapter(LoaderPool.Loaded.class, BagArrived::new);
      this.prefetch = prefetch;
      this.checkpoints = checkpoints;
      this.gradient = new float[replica.gradientLength()];
    }

    // ---------------------------------------------------------------- phases

    Behavior<Command> idle() {
      return Behaviors.receive(Command.class)
          .onMessage(Introduce.class, m -> {
            m.replyTo().tell(new Coordinator.WorkerReady(device, allReduceFactory.address(), ctx.getSelf()));
            return Behaviors.same();
          })
          .onMessage(JoinRing.class, this::joinRing)
          .onMessage(TrainSteps.class, this::startTraining)
          .onMessage(Evaluate.class, this::startEvaluating)
          .onMessage(SaveCheckpoint.class, this::saveCheckpoint)
          .onMessage(Halt.class, m -> {
            m.replyTo().tell(new Coordinator.Halted(rank, -1, -1));
            return Behaviors.same();
          })
          .onMessage(BagArrived.class, this::discard)
          .onMessage(ReduceDone.class, this::unexpected)
          .onMessageEquals(Stop.INSTANCE, this::stop)
          .onSignal(PostStop.class, s -> cleanup())
          .build();
    }

    private Behavior<Command> training(TrainingJob job) {
      return busy(Behaviors.receive(Command.class)
          .onMessage(BagArrived.class, m -> {
            arrive(m);
            return advanceTraining(job);
          })
          .onMessage(Halt.class, m -> {
            job.halt = m;
            return Behaviors.same();
          })
          .onMessage(ReduceDone.class, this::unexpected));
    }

    private Behavior<Command> reducing(TrainingJob job) {
      return busy(Behaviors.receive(Command.class)
          .onMessage(BagArrived.class, m -> {
            arrive(m);
            return Behaviors.same();
          })
          .onMessage(Halt.class, m -> {
            job.halt = m;
            return Behaviors.same();
          })
          .onMessage(ReduceDone.class, m -> reduced(job, m)));
    }

    private Behavior<Command> evaluating(EvalJob job) {
      return busy(Behaviors.receive(Command.class)
          .onMessage(BagArrived.class, m -> {
            arrive(m);
            return advanceEvaluation(job);
          })
          .onMessage(Halt.class, m -> {
            m.replyTo().tell(new Coordinator.Halted(rank, job.order.epoch(), -1));
            return Behaviors.same();
          })
          .onMessage(ReduceDone.class, this::unexpected));
    }

    /**
     * What every busy phase does alike: checkpoints are written between messages,
     * new work while busy is a protocol error, Stop stops, and a stop cleans up.
     */
    private Behavior<Command> busy(org.apache.pekko.actor.typed.javadsl.BehaviorBuilder<Command> phase) {
      return phase
          .onMessage(SaveCheckpoint.class, this::saveCheckpoint)
          .onMessage(TrainSteps.class, this::refuse)
          .onMessage(Introduce.class, this::refuse)
          .onMessage(JoinRing.class, this::refuse)
          .onMessage(Evaluate.class, this::refuse)
          .onMessageEquals(Stop.INSTANCE, this::stop)
          .onSignal(PostStop.class, s -> cleanup())
          .build();
    }

    // ---------------------------------------------------------------- training

    /** One assignment of steps, and where the worker is in it. */
    private static final class TrainingJob {
      final TrainSteps order;
      int step; // index into order.steps
      int bag; // index into the current step's bags
      int weight; // bags of the current step trained so far
      double lossSum;
      final StepTimer times = new StepTimer();
      long waitingSince = -1;
      Halt halt;

      TrainingJob(TrainSteps order) {
        this.order = order;
      }

      List<BagRef> bags() {
        return order.steps().get(step);
      }
    }

    private Behavior<Command> joinRing(JoinRing m) {
      rank = m.rank();
      allReduce = allReduceFactory.join(m.generation(), m.rank(), m.addresses());
      m.replyTo().tell(new Coordinator.RingJoined(m.generation(), m.rank()));
      return Behaviors.same();
    }

    private Behavior<Command> startTraining(TrainSteps m) {
      if (allReduce == null) {
        throw new IllegalStateException("worker on " + device + " got training steps before joining a ring");
      }
      for (List<BagRef> step : m.steps()) {
        toRequest.addAll(step);
      }
      pull();
      return advanceTraining(new TrainingJob(m));
    }

    /** Trains every bag of the current step that has arrived; hands the step to the all-reduce when done. */
    private Behavior<Command> advanceTraining(TrainingJob job) {
      if (job.step == job.order.steps().size()) {
        return idle();
      }
      while (job.bag < job.bags().size()) {
        BagRef next = job.bags().get(job.bag);
        LoaderPool.Loaded loaded = arrived.remove(next.key());
        if (loaded == null) {
          if (job.waitingSince < 0) {
            job.waitingSince = System.nanoTime();
          }
          return training(job);
        }
        if (job.waitingSince >= 0) {
          job.times.decodeWait += System.nanoTime() - job.waitingSince;
          job.waitingSince = -1;
        }
        consumed();
        switch (loaded) {
          case LoaderPool.BagLoaded(DecodedBag decoded) -> {
            try {
              Replica.BagOutcome out = replica.accumulate(decoded);
              job.lossSum += out.loss();
              job.weight++;
              job.times.add(out);
            } finally {
              decoded.release();
            }
          }
          case LoaderPool.BagFailed(BagRef bag, String reason) ->
              job.order.replyTo().tell(new Coordinator.BagSkipped(rank, bag.epoch(), bag.key(), bag.slideId(), reason));
        }
        job.bag++;
      }
      long t0 = System.nanoTime();
      replica.gradient(gradient);
      job.times.allReduce -= t0; // completed in reduced(): the gradient copy counts as all-reduce time
      long round = job.order.firstGlobalStep() + job.step;
      ctx.pipeToSelf(allReduce.reduce(rank, round, gradient, job.weight, job.halt != null), ReduceDone::new);
      return reducing(job);
    }

    private Behavior<Command> reduced(TrainingJob job, ReduceDone m) {
      if (m.failure() != null) {
        int step = job.order.firstStep() + job.step;
        Throwable cause = m.failure() instanceof java.util.concurrent.CompletionException c && c.getCause() != null
            ? c.getCause() : m.failure();
        if (!(cause instanceof RingBrokenException broken)) {
          throw new IllegalStateException("all-reduce of step " + step + " failed", m.failure());
        }
        // The step is lost on every rank: drop this one's gradient, report, and wait for the Coordinator.
        replica.discard();
        abandonPrefetch();
        job.order.replyTo().tell(new Coordinator.RingBroken(rank, broken.generation(), job.order.epoch(), step,
            broken.peerRank(), broken.getMessage()));
        return idle();
      }
      long t1 = System.nanoTime();
      job.times.allReduce += t1;
      AllReduce.Reduced r = m.reduced();
      if (r.weight() > 0) {
        replica.apply(r.average());
      } else {
        replica.discard();
      }
      job.times.optimizer += System.nanoTime() - t1;
      int step = job.order.firstStep() + job.step;
      job.order.replyTo().tell(
          new Coordinator.StepDone(rank, job.order.epoch(), step, job.weight, r.weight(), job.lossSum, job.times.snapshot()));
      job.step++;
      job.bag = 0;
      job.weight = 0;
      job.lossSum = 0;
      job.times.reset();
      if (r.halt()) {
        abandonPrefetch();
        ActorRef<Coordinator.Command> to = job.halt != null ? job.halt.replyTo() : job.order.replyTo();
        to.tell(new Coordinator.Halted(rank, job.order.epoch(), job.order.firstStep() + job.step));
        return idle();
      }
      return advanceTraining(job);
    }

    // ---------------------------------------------------------------- evaluation

    private static final class EvalJob {
      final Evaluate order;
      int next;
      final List<Coordinator.BagScore> scores = new ArrayList<>();
      final List<String> skipped = new ArrayList<>();

      EvalJob(Evaluate order) {
        this.order = order;
      }
    }

    private Behavior<Command> startEvaluating(Evaluate m) {
      toRequest.addAll(m.bags());
      pull();
      return advanceEvaluation(new EvalJob(m));
    }

    private Behavior<Command> advanceEvaluation(EvalJob job) {
      while (job.next < job.order.bags().size()) {
        BagRef bag = job.order.bags().get(job.next);
        LoaderPool.Loaded loaded = arrived.remove(bag.key());
        if (loaded == null) {
          return evaluating(job);
        }
        consumed();
        switch (loaded) {
          case LoaderPool.BagLoaded(DecodedBag decoded) -> {
            try {
              Replica.BagOutcome out = replica.evaluate(decoded);
              job.scores.add(new Coordinator.BagScore(bag.key(), bag.slideId(), bag.label(), out.probabilities(), out.loss()));
            } finally {
              decoded.release();
            }
          }
          case LoaderPool.BagFailed(BagRef failed, String reason) -> {
            job.order.replyTo().tell(new Coordinator.BagSkipped(rank, failed.epoch(), failed.key(), failed.slideId(), reason));
          }
        }
        job.next++;
      }
      job.order.replyTo().tell(new Coordinator.Evaluated(rank, job.order.epoch(), job.scores, replica.parameterDigest()));
      return idle();
    }

    // ---------------------------------------------------------------- shared

    /** Requests bags until {@code prefetch} are requested or waiting. */
    private void pull() {
      while (inFlight < prefetch && !toRequest.isEmpty()) {
        loaders.tell(new LoaderPool.LoadBag(toRequest.poll(), loadedAdapter));
        inFlight++;
      }
    }

    private void arrive(BagArrived m) {
      BagRef bag = switch (m.loaded()) {
        case LoaderPool.BagLoaded(DecodedBag d) -> d.bag();
        case LoaderPool.BagFailed(BagRef b, String reason) -> b;
      };
      arrived.put(bag.key(), m.loaded());
    }

    private void consumed() {
      inFlight--;
      pull();
    }

    /** A bag no job waits for (its job was halted): give its buffer back. */
    private Behavior<Command> discard(BagArrived m) {
      if (m.loaded() instanceof LoaderPool.BagLoaded(DecodedBag d)) {
        d.release();
      }
      inFlight--;
      return Behaviors.same();
    }

    /** Drops the bags of a halted job: those not requested, and those already decoded. */
    private void abandonPrefetch() {
      toRequest.clear();
      for (LoaderPool.Loaded l : arrived.values()) {
        if (l instanceof LoaderPool.BagLoaded(DecodedBag d)) {
          d.release();
        }
        inFlight--;
      }
      arrived.clear();
    }

    private Behavior<Command> saveCheckpoint(SaveCheckpoint m) {
      Checkpoint c = new Checkpoint(m.state(), replica.parameters(), replica.optimizerState());
      try {
        Path last = checkpoints.saveLast(c);
        Path best = m.best() ? checkpoints.saveBest(c) : null;
        m.replyTo().tell(new Coordinator.CheckpointWritten(
            rank, m.state(), last.toString(), best == null ? "" : best.toString(), ""));
      } catch (java.io.IOException | RuntimeException e) {
        m.replyTo().tell(new Coordinator.CheckpointWritten(
            rank, m.state(), "", "", "cannot write a checkpoint in " + checkpoints.dir() + ": " + e.getMessage()));
      }
      return Behaviors.same();
    }

    private Behavior<Command> refuse(Command m) {
      throw new IllegalStateException("worker " + rank + " got " + m.getClass().getSimpleName() + " while busy");
    }

    private Behavior<Command> unexpected(ReduceDone m) {
      ctx.getLog().warn("worker {} ignores an all-reduce result it did not wait for", rank);
      return Behaviors.same();
    }

    private Behavior<Command> stop() {
      return Behaviors.stopped();
    }

    private Behavior<Command> cleanup() {
      for (LoaderPool.Loaded l : arrived.values()) {
        if (l instanceof LoaderPool.BagLoaded(DecodedBag d)) {
          d.release();
        }
      }
      arrived.clear();
      replica.close();
      allReduceFactory.close();
      return Behaviors.same();
    }
  }
}
