package io.bagpipe.worker;

import io.bagpipe.allreduce.AllReduce;
import io.bagpipe.allreduce.AllReduceFactory;
import io.bagpipe.allreduce.RingBrokenException;
import io.bagpipe.bag.BagRef;
import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.checkpoint.CheckpointStream;
import io.bagpipe.checkpoint.RunState;
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
 * Coordinator deals into optimizer steps and validation scores.
 *
 * <p>Phases: {@code idle} (no order) → {@code working} (decoding ahead, training the
 * bags of the head order, a {@link TrainStep} or an {@link Evaluate}) → for a step,
 * {@code reducing} (gradient handed to the all-reduce; later bags keep decoding
 * meanwhile) → the next order, or {@code idle}. Orders queue in arrival order; the
 * Coordinator deals a step or two ahead so decoding never waits for it.
 *
 * <p>A ring that breaks mid-step ({@link RingBroken}) or a
 * {@link LeaveRing} from the Coordinator drops the step in flight and every queued
 * order, with the bags decoded for them: the step's gradient is discarded, so this
 * replica stays at the last step it applied, which {@link RingLeft}
 * reports. The worker then waits, idle, for the next ring generation. Orders and
 * all-reduce results of an older generation are ignored.
 *
 * <p>Bags are pulled from the node's {@link LoaderPool}: at most
 * {@code prefetch-bags} are requested or decoded-and-waiting at a time, so a slow
 * worker never makes loaders pile up memory. A bag that fails to decode is
 * reported ({@link BagSkipped}) and contributes weight 0 to its step;
 * the worker still joins the step's all-reduce, so the replicas stay in lockstep.
 */
public final class Worker {

  private Worker() {}

  /** Messages a worker accepts. */
  public sealed interface Command extends BagpipeMessage
      permits Introduce, JoinRing, TrainStep, Evaluate, SaveCheckpoint, LeaveRing, SendState, ReceiveState, Stop,
          BagArrived, ReduceDone, StateWritten, StateRead {}

  /**
   * Say who you are: sent by the Coordinator to a worker it found through the
   * Receptionist; answered by {@link WorkerReady} with the worker's
   * device and data address.
   */
  public record Introduce(ActorRef<Reply> replyTo) implements Command {}

  /**
   * Take {@code rank} in ring {@code generation}, whose ranks' data addresses are
   * {@code addresses} (rank order); the run has committed {@code committedSteps}
   * global steps, all of which this replica holds. Answered by
   * {@link RingJoined}; the worker trains only in the ring it last joined.
   */
  public record JoinRing(long generation, int rank, List<String> addresses, long committedSteps,
      ActorRef<Reply> replyTo) implements Command {
    public JoinRing {
      addresses = List.copyOf(addresses);
    }
  }

  /**
   * Train {@code bags} (possibly none) as this worker's share of {@code step} of
   * {@code epoch}, the run's {@code globalStep}-th, in ring {@code generation}. Sent by
   * the Coordinator one step at a time, in step order; answered by
   * {@link StepDone} once the step's average is applied.
   */
  public record TrainStep(long generation, int epoch, int step, long globalStep, List<BagRef> bags,
      ActorRef<Reply> replyTo) implements Command {
    public TrainStep {
      bags = List.copyOf(bags);
    }
  }

  /**
   * Evaluate these validation bags, batch {@code batch} of {@code epoch}'s
   * validation in ring {@code generation}; answered by one {@link Evaluated}.
   */
  public record Evaluate(long generation, int epoch, int batch, List<BagRef> bags, ActorRef<Reply> replyTo)
      implements Command {
    public Evaluate {
      bags = List.copyOf(bags);
    }
  }

  /**
   * Write a checkpoint of this replica with {@code state}: always as the newest
   * versioned one, and as {@code best.ckpt} too when {@code best}. Answered by
   * {@link CheckpointWritten}.
   */
  public record SaveCheckpoint(RunState state, boolean best, ActorRef<Reply> replyTo)
      implements Command {}

  /**
   * Ring {@code generation} is over (a rank was lost): drop the step in flight, its
   * gradient and every queued order, close this side of the ring, and say which
   * step this replica last applied. Answered by {@link RingLeft}.
   */
  public record LeaveRing(long generation, ActorRef<Reply> replyTo) implements Command {}

  /**
   * Send this replica's parameters and optimizer state, with run position
   * {@code state}, as bulk transfer {@code transfer} to the worker whose data address
   * is {@code to} (a worker joining the run). Answered by {@link StateSent}.
   */
  public record SendState(long transfer, String to, RunState state, ActorRef<Reply> replyTo)
      implements Command {}

  /**
   * Take parameters and optimizer state from bulk transfer {@code transfer}, sent by a
   * live peer: this worker joins a running run. Answered by {@link Healed}.
   */
  public record ReceiveState(long transfer, ActorRef<Reply> replyTo) implements Command {}

  /** Release the replica and stop. */
  public enum Stop implements Command {
    INSTANCE
  }

  /**
   * What a worker answers the Coordinator's orders with. The Coordinator adapts these
   * into its own protocol; neither side depends on the other's.
   */
  public sealed interface Reply extends BagpipeMessage
      permits WorkerReady, RingJoined, StepDone, RingBroken, RingLeft, BagSkipped, Evaluated, CheckpointWritten,
          StateSent, Healed {}

  /**
   * A worker found through the Receptionist answered {@link Introduce}: its
   * device, the data address its peers reach its all-reduce at, and where its replica
   * stands (a Coordinator that took over from a lost one goes on from there).
   */
  public record WorkerReady(String device, String address, ActorRef<Command> worker, Applied applied)
      implements Reply {}

  /**
   * Where a replica stands: the ring generation it last joined (0: none), the global
   * step it applied last and that step's epoch and step (all -1 when it applied none
   * since its worker started).
   */
  public record Applied(long generation, long globalStep, int epoch, int step) {}

  /** A worker took its rank in ring {@code generation}. */
  public record RingJoined(long generation, int rank) implements Reply {}

  /**
   * A worker of ring {@code generation} applied {@code step} of {@code epoch}: it
   * trained {@code bags} bags (with {@code lossSum} their summed loss), and the step's
   * average covered {@code stepBags} bags over all ranks; {@code loader} counts what
   * the node's loaders did for those bags.
   */
  public record StepDone(int rank, long generation, int epoch, int step, int bags, int stepBags, double lossSum,
      StageNanos times, LoaderCounts loader) implements Reply {}

  /**
   * What the node's loaders did for the bags a worker trained in one step: nanoseconds
   * spent decoding them (summed over their tasks, cache copies included), their
   * patches served from the node's patch cache ({@code cacheHits}) and read from slides
   * while the cache was on ({@code cacheMisses}), and the bytes the node's cache held
   * when the last of them was decoded (all cache figures 0 when the cache is off).
   */
  public record LoaderCounts(long decodeNanos, long cacheHits, long cacheMisses, long cacheBytes) {
    /** Sums {@code o} into this; the cache bytes are {@code o}'s, the later figure. */
    public LoaderCounts plus(LoaderCounts o) {
      return new LoaderCounts(decodeNanos + o.decodeNanos, cacheHits + o.cacheHits, cacheMisses + o.cacheMisses,
          o.cacheBytes);
    }
  }

  /** Nanoseconds a worker spent per stage in one step. */
  public record StageNanos(long decodeWait, long upload, long forward, long backward, long allReduce, long optimizer) {
    /** The sum of this and {@code o}, stage by stage. */
    public StageNanos plus(StageNanos o) {
      return new StageNanos(decodeWait + o.decodeWait, upload + o.upload, forward + o.forward,
          backward + o.backward, allReduce + o.allReduce, optimizer + o.optimizer);
    }
  }

  /**
   * A worker's all-reduce of {@code step} of {@code epoch} failed because ring
   * {@code generation} broke: {@code peerRank} (-1 when unknown) is the neighbour it
   * lost ({@code peerGone}: its data port refuses connections, so it is dead), {@code reason}
   * says how. The worker discarded the step's gradient and is idle; the Coordinator
   * decides what follows.
   */
  public record RingBroken(int rank, long generation, int epoch, int step, int peerRank, boolean peerGone,
      String reason) implements Reply {}

  /**
   * A worker left ring {@code generation} as told ({@link LeaveRing}): it
   * dropped what it had not applied, and {@code applied} says where its replica stands.
   */
  public record RingLeft(int rank, long generation, Applied applied, ActorRef<Command> worker)
      implements Reply {}

  /**
   * A worker of ring {@code generation} skipped a bag it could not get decoded, in
   * {@code step} of {@code epoch} (step -1: a validation bag); {@code reason} names
   * the slide and the cause.
   */
  public record BagSkipped(int rank, long generation, int epoch, int step, long bagKey, String slideId, String reason)
      implements Reply {}

  /**
   * A worker's results for validation batch {@code batch} (scores of the bags it
   * could decode), and the digest of its parameters (all replicas must report the same
   * one).
   */
  public record Evaluated(int rank, long generation, int epoch, int batch, List<BagScore> scores, long parameterDigest)
      implements Reply {
    public Evaluated {
      scores = List.copyOf(scores);
    }
  }

  /** One validation bag's class probabilities and loss. */
  public record BagScore(long key, String slideId, int label, float[] probabilities, double loss) {}

  /** A worker wrote (or failed to write, {@code error} non-empty) the checkpoint of {@code state}. */
  public record CheckpointWritten(int rank, RunState state, String last, String best, String error)
      implements Reply {}

  /**
   * A worker sent its replica's state as bulk transfer {@code transfer} to a joining
   * worker ({@link SendState}); {@code digest} is that replica's parameter
   * digest; {@code error} is non-empty when the transfer failed.
   */
  public record StateSent(int rank, long transfer, long digest, String error) implements Reply {}

  /**
   * A joining worker loaded the state of transfer {@code transfer}
   * ({@link ReceiveState}): its parameter digest is now {@code digest};
   * {@code error} is non-empty when it could not.
   */
  public record Healed(long transfer, long digest, String error, ActorRef<Command> worker) implements Reply {}

  private record BagArrived(LoaderPool.Loaded loaded) implements Command, NodeLocal {}

  private record ReduceDone(long generation, long round, AllReduce.Reduced reduced, Throwable failure)
      implements Command, NodeLocal {}

  private record StateWritten(SendState order, long digest, Throwable failure) implements Command, NodeLocal {}

  private record StateRead(ReceiveState order, Checkpoint state, Throwable failure) implements Command, NodeLocal {}

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
    return create(device, replica, allReduce, loaders, prefetchBags, checkpointDir, keepCheckpoints, key,
        new WorkerMeter());
  }

  /** As the other {@code create}, counting the worker's applied steps in {@code meter}. */
  public static Behavior<Command> create(
      String device,
      Supplier<Replica> replica,
      AllReduceFactory allReduce,
      ActorRef<LoaderPool.Command> loaders,
      int prefetchBags,
      Path checkpointDir,
      int keepCheckpoints,
      ServiceKey<Command> key,
      WorkerMeter meter) {
    return Behaviors.setup(
        ctx -> {
          ctx.getSystem().receptionist().tell(Receptionist.register(key, ctx.getSelf()));
          return new Worker.Running(ctx, device, replica.get(), allReduce, loaders, prefetchBags,
              new CheckpointStore(checkpointDir, keepCheckpoints), meter).idle();
        });
  }

  /** The state shared by all phases. */
  private static final class Running {
    private final ActorContext<Command> ctx;
    private final String device;
    private final Replica replica;
    private final AllReduceFactory allReduceFactory;
    /** Place and all-reduce in the ring last joined; -1, 0 and null before the first, null after leaving it. */
    private int rank = -1;
    private long generation;
    private AllReduce allReduce;
    /** The global step this replica applied last, -1 when none since the worker started; its epoch and step. */
    private long appliedGlobalStep = -1;
    private int appliedEpoch = -1;
    private int appliedStep = -1;
    private final ActorRef<LoaderPool.Command> loaders;
    private final ActorRef<LoaderPool.Loaded> loadedAdapter;
    private final int prefetch;
    private final CheckpointStore checkpoints;
    private final float[] gradient;
    private final WorkerMeter meter;

    /** Orders ({@link TrainStep}, {@link Evaluate}) not finished, the head in progress. */
    private final ArrayDeque<Command> orders = new ArrayDeque<>();
    /** Where the head order stands. */
    private Progress head;
    /** Bags of the queued orders not yet requested, in the order they will be used. */
    private final ArrayDeque<BagRef> toRequest = new ArrayDeque<>();
    /** Keys of the bags the queued orders still need; a bag arriving for none is released. */
    private final java.util.Set<Long> wanted = new java.util.HashSet<>();
    /** Arrived bags (decoded or failed) that an order wants, by bag key, until used. */
    private final Map<Long, LoaderPool.Loaded> arrived = new HashMap<>();
    /** Bags requested from the loaders that have not arrived; with {@link #arrived}, bounded by {@code prefetch}. */
    private int requested;

    Running(ActorContext<Command> ctx, String device, Replica replica, AllReduceFactory allReduceFactory,
        ActorRef<LoaderPool.Command> loaders, int prefetch, CheckpointStore checkpoints, WorkerMeter meter) {
      this.ctx = ctx;
      this.meter = meter;
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
            m.replyTo().tell(new WorkerReady(device, allReduceFactory.address(), ctx.getSelf(),
                new Applied(generation, appliedGlobalStep, appliedEpoch, appliedStep)));
            return Behaviors.same();
          })
          .onMessage(JoinRing.class, this::joinRing)
          .onMessage(TrainStep.class, this::order)
          .onMessage(Evaluate.class, this::order)
          .onMessage(SaveCheckpoint.class, this::saveCheckpoint)
          .onMessage(LeaveRing.class, this::leaveRing)
          .onMessage(SendState.class, this::sendState)
          .onMessage(ReceiveState.class, this::receiveState)
          .onMessage(StateWritten.class, this::stateWritten)
          .onMessage(StateRead.class, this::stateRead)
          .onMessage(BagArrived.class, m -> {
            arrive(m);
            return Behaviors.same();
          })
          .onMessage(ReduceDone.class, this::stale)
          .onMessageEquals(Stop.INSTANCE, this::stop)
          .onSignal(PostStop.class, s -> cleanup())
          .build();
    }

    /** Working on the head order: waiting for its next bag. */
    private Behavior<Command> working() {
      return busy(Behaviors.receive(Command.class)
          .onMessage(BagArrived.class, m -> {
            arrive(m);
            return advance();
          })
          .onMessage(ReduceDone.class, this::stale));
    }

    /** The head step's gradient is in the all-reduce; later bags keep decoding. */
    private Behavior<Command> reducing(long round) {
      return busy(Behaviors.receive(Command.class)
          .onMessage(BagArrived.class, m -> {
            arrive(m);
            return Behaviors.same();
          })
          .onMessage(ReduceDone.class, m -> m.generation() == generation && m.round() == round ? reduced(m) : stale(m)));
    }

    /**
     * What every busy phase does alike: more orders queue, the Coordinator may end
     * the ring, checkpoints are written between messages, a second ring while busy is
     * a protocol error, Stop stops, and a stop cleans up.
     */
    private Behavior<Command> busy(org.apache.pekko.actor.typed.javadsl.BehaviorBuilder<Command> phase) {
      return phase
          .onMessage(TrainStep.class, this::queue)
          .onMessage(Evaluate.class, this::queue)
          .onMessage(LeaveRing.class, this::leaveRing)
          .onMessage(SaveCheckpoint.class, this::saveCheckpoint)
          .onMessage(Introduce.class, this::refuse)
          .onMessage(JoinRing.class, this::refuse)
          .onMessage(SendState.class, this::refuse)
          .onMessage(ReceiveState.class, this::refuse)
          .onMessage(StateWritten.class, this::stateWritten)
          .onMessage(StateRead.class, this::refuse)
          .onMessageEquals(Stop.INSTANCE, this::stop)
          .onSignal(PostStop.class, s -> cleanup())
          .build();
    }

    // ---------------------------------------------------------------- orders

    /** Where the head order stands. */
    private static final class Progress {
      int bag; // index into the order's bags
      int weight; // bags of the step trained so far
      double lossSum;
      final StepTimer times = new StepTimer();
      long waitingSince = -1;
      final List<BagScore> scores = new ArrayList<>();
    }

    private Behavior<Command> joinRing(JoinRing m) {
      rank = m.rank();
      generation = m.generation();
      appliedGlobalStep = m.committedSteps() - 1;
      allReduce = allReduceFactory.join(m.generation(), m.rank(), m.addresses());
      meter.joined(m.generation(), m.rank(), m.addresses().size());
      m.replyTo().tell(new RingJoined(m.generation(), m.rank()));
      return Behaviors.same();
    }

    private Behavior<Command> order(Command m) {
      queue(m);
      return orders.isEmpty() ? Behaviors.same() : advance();
    }

    /** Queues an order of the current ring and starts fetching its bags; drops one of a ring it is not in. */
    private Behavior<Command> queue(Command m) {
      long g = m instanceof TrainStep t ? t.generation() : ((Evaluate) m).generation();
      if (g != generation || allReduce == null) {
        // An order sent before the Coordinator learnt that this ring broke.
        ctx.getLog().debug("worker {} drops an order of ring generation {} (it is {} generation {})", rank, g,
            allReduce == null ? "out of" : "in", generation);
        return Behaviors.same();
      }
      orders.add(m);
      for (BagRef b : bagsOf(m)) {
        toRequest.add(b);
        wanted.add(b.key());
      }
      pull();
      return Behaviors.same();
    }

    private static List<BagRef> bagsOf(Command order) {
      return order instanceof TrainStep t ? t.bags() : ((Evaluate) order).bags();
    }

    /** Uses every bag of the head order that has arrived; finishes the order when it has all. */
    private Behavior<Command> advance() {
      while (!orders.isEmpty()) {
        Command order = orders.peek();
        if (head == null) {
          head = new Progress();
        }
        List<BagRef> bags = bagsOf(order);
        while (head.bag < bags.size()) {
          BagRef next = bags.get(head.bag);
          LoaderPool.Loaded loaded = arrived.remove(next.key());
          if (loaded == null) {
            if (head.waitingSince < 0) {
              head.waitingSince = System.nanoTime();
            }
            return working();
          }
          if (head.waitingSince >= 0) {
            head.times.decodeWait += System.nanoTime() - head.waitingSince;
            head.waitingSince = -1;
          }
          wanted.remove(next.key());
          pull();
          use(order, loaded);
          head.bag++;
        }
        if (order instanceof TrainStep step) {
          long t0 = System.nanoTime();
          replica.gradient(gradient);
          head.times.allReduce -= t0; // completed in reduced(): the gradient copy counts as all-reduce time
          long g = generation;
          long round = step.globalStep();
          ctx.pipeToSelf(allReduce.reduce(rank, round, gradient, head.weight, false),
              (r, e) -> new ReduceDone(g, round, r, e));
          return reducing(round);
        }
        Evaluate eval = (Evaluate) orders.poll();
        eval.replyTo().tell(new Evaluated(rank, eval.generation(), eval.epoch(), eval.batch(), head.scores,
            replica.parameterDigest()));
        head = null;
      }
      return idle();
    }

    /** Trains or evaluates one arrived bag of {@code order}, or reports that it failed. */
    private void use(Command order, LoaderPool.Loaded loaded) {
      switch (loaded) {
        case LoaderPool.BagLoaded(DecodedBag decoded) -> {
          try {
            BagRef bag = decoded.bag();
            if (order instanceof TrainStep) {
              Replica.BagOutcome out = replica.accumulate(decoded);
              head.lossSum += out.loss();
              head.weight++;
              head.times.add(out);
              head.times.add(decoded);
            } else {
              Replica.BagOutcome out = replica.evaluate(decoded);
              head.scores.add(new BagScore(bag.key(), bag.slideId(), bag.label(), out.probabilities(), out.loss()));
            }
          } finally {
            decoded.release();
          }
        }
        case LoaderPool.BagFailed(BagRef bag, String reason) -> {
          int step = order instanceof TrainStep t ? t.step() : -1;
          replyTo(order).tell(new BagSkipped(rank, generation, bag.epoch(), step, bag.key(), bag.slideId(),
              reason));
        }
      }
    }

    private static ActorRef<Reply> replyTo(Command order) {
      return order instanceof TrainStep t ? t.replyTo() : ((Evaluate) order).replyTo();
    }

    private Behavior<Command> reduced(ReduceDone m) {
      TrainStep step = (TrainStep) orders.peek();
      if (m.failure() != null) {
        Throwable cause = m.failure() instanceof java.util.concurrent.CompletionException c && c.getCause() != null
            ? c.getCause() : m.failure();
        if (!(cause instanceof RingBrokenException broken)) {
          throw new IllegalStateException("all-reduce of step " + step.step() + " failed", m.failure());
        }
        // The step is lost on every rank: drop this one's gradient and what was queued, report, and wait for the Coordinator.
        dropOrders();
        allReduce = null; // later orders of this ring are dropped; LeaveRing closes it
        step.replyTo().tell(new RingBroken(rank, broken.generation(), step.epoch(), step.step(),
            broken.peerRank(), broken.peerGone(), broken.getMessage()));
        return idle();
      }
      long t1 = System.nanoTime();
      head.times.allReduce += t1;
      AllReduce.Reduced r = m.reduced();
      if (r.weight() > 0) {
        replica.apply(r.average(), step.globalStep());
      } else {
        replica.discard();
      }
      appliedGlobalStep = step.globalStep();
      appliedEpoch = step.epoch();
      appliedStep = step.step();
      head.times.optimizer += System.nanoTime() - t1;
      StageNanos times = head.times.snapshot();
      meter.applied(head.weight, times, gradient.length);
      step.replyTo().tell(new StepDone(rank, generation, step.epoch(), step.step(), head.weight, r.weight(),
          head.lossSum, times, head.times.loaderCounts()));
      orders.poll();
      head = null;
      return advance();
    }

    /** Ends this worker's part in ring {@code m.generation()}: drops every order, closes its side, reports. */
    private Behavior<Command> leaveRing(LeaveRing m) {
      if (m.generation() == generation) {
        dropOrders();
        allReduceFactory.leave();
        allReduce = null;
      }
      m.replyTo().tell(new RingLeft(rank, m.generation(),
          new Applied(generation, appliedGlobalStep, appliedEpoch, appliedStep), ctx.getSelf()));
      return idle();
    }

    /** Drops the step in flight (its gradient), every queued order and the bags decoded for them. */
    private void dropOrders() {
      if (head != null && orders.peek() instanceof TrainStep) {
        replica.discard();
      }
      orders.clear();
      head = null;
      toRequest.clear();
      wanted.clear();
      for (LoaderPool.Loaded l : arrived.values()) {
        release(l);
      }
      arrived.clear();
    }

    private Behavior<Command> stale(ReduceDone m) {
      ctx.getLog().debug("worker {} ignores the all-reduce result of round {} of ring generation {}", rank, m.round(),
          m.generation());
      return Behaviors.same();
    }

    // ---------------------------------------------------------------- bags

    /** Requests bags until {@code prefetch} are requested or waiting. */
    private void pull() {
      while (requested + arrived.size() < prefetch && !toRequest.isEmpty()) {
        loaders.tell(new LoaderPool.LoadBag(toRequest.poll(), loadedAdapter));
        requested++;
      }
    }

    /** Keeps a bag an order wants; gives back one no order wants (its order was dropped) or already has. */
    private void arrive(BagArrived m) {
      requested--;
      BagRef bag = switch (m.loaded()) {
        case LoaderPool.BagLoaded(DecodedBag d) -> d.bag();
        case LoaderPool.BagFailed(BagRef b, String reason) -> b;
      };
      if (wanted.contains(bag.key()) && !arrived.containsKey(bag.key())) {
        arrived.put(bag.key(), m.loaded());
      } else {
        release(m.loaded());
        pull();
      }
    }

    private static void release(LoaderPool.Loaded l) {
      if (l instanceof LoaderPool.BagLoaded(DecodedBag d)) {
        d.release();
      }
    }

    // ---------------------------------------------------------------- healing

    /** Snapshots the replica here, on the worker's thread, and streams it to the joiner on a thread of the transfer. */
    private Behavior<Command> sendState(SendState m) {
      Checkpoint c = new Checkpoint(m.state(), replica.parameters(), replica.optimizerState());
      long digest = replica.parameterDigest();
      ctx.pipeToSelf(allReduceFactory.send(m.to(), m.transfer(), out -> CheckpointStream.write(c, out)),
          (ok, e) -> new StateWritten(m, digest, e));
      return Behaviors.same();
    }

    private Behavior<Command> stateWritten(StateWritten m) {
      m.order().replyTo().tell(new StateSent(rank, m.order().transfer(), m.digest(),
          m.failure() == null ? "" : "cannot send the state to " + m.order().to() + ": " + cause(m.failure())));
      return Behaviors.same();
    }

    private Behavior<Command> receiveState(ReceiveState m) {
      ctx.pipeToSelf(allReduceFactory.receive(m.transfer(),
          in -> CheckpointStream.read(in, "the state of transfer " + m.transfer())), (c, e) -> new StateRead(m, c, e));
      return Behaviors.same();
    }

    private Behavior<Command> stateRead(StateRead m) {
      String error = "";
      long digest = 0;
      if (m.failure() != null) {
        error = "cannot receive the state: " + cause(m.failure());
      } else {
        try {
          replica.load(m.state().parameters(), m.state().optimizerState());
          digest = replica.parameterDigest();
        } catch (RuntimeException e) {
          error = "cannot load the state received: " + e.getMessage();
        }
      }
      m.order().replyTo().tell(new Healed(m.order().transfer(), digest, error, ctx.getSelf()));
      return Behaviors.same();
    }

    private static String cause(Throwable t) {
      Throwable c = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
      return c.getMessage() == null ? c.toString() : c.getMessage();
    }

    // ---------------------------------------------------------------- other

    private Behavior<Command> saveCheckpoint(SaveCheckpoint m) {
      Checkpoint c = new Checkpoint(m.state(), replica.parameters(), replica.optimizerState());
      try {
        Path last = checkpoints.saveLast(c);
        Path best = m.best() ? checkpoints.saveBest(c) : null;
        m.replyTo().tell(new CheckpointWritten(
            rank, m.state(), last.toString(), best == null ? "" : best.toString(), ""));
      } catch (java.io.IOException | RuntimeException e) {
        m.replyTo().tell(new CheckpointWritten(
            rank, m.state(), "", "", "cannot write a checkpoint in " + checkpoints.dir() + ": " + e.getMessage()));
      }
      return Behaviors.same();
    }

    private Behavior<Command> refuse(Command m) {
      throw new IllegalStateException("worker " + rank + " got " + m.getClass().getSimpleName() + " while busy");
    }

    private Behavior<Command> stop() {
      return Behaviors.stopped();
    }

    private Behavior<Command> cleanup() {
      for (LoaderPool.Loaded l : arrived.values()) {
        release(l);
      }
      arrived.clear();
      replica.close();
      allReduceFactory.close();
      return Behaviors.same();
    }
  }
}
