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
 *
 * <p>Every order carries its {@link Issuer}, the token the Coordinator that sent it drew
 * when it started. A worker takes orders from one Coordinator at a time: the first that
 * introduced itself ({@link Introduce}) with a {@link Proof} its {@link IssuerSeal}
 * admits. An order of any other issuer is refused: logged as a warning naming its type
 * and reply address, counted ({@link WorkerMeter#refusedOrders()}), answered with
 * nothing and changing nothing. A worker moves to another Coordinator only after its
 * own stopped (death watch: the singleton's node was lost, or the run ended); an
 * introduction held back meanwhile is then answered (docs/security.md, ADR 19).
 */
public final class Worker {

  private Worker() {}

  /**
   * Messages a worker accepts: the Coordinator's {@link Order}s, and its own private
   * ones (loaded bags, all-reduce and transfer results, a watched Coordinator's end),
   * which never leave its JVM.
   */
  public sealed interface Command extends BagpipeMessage
      permits Order, BagArrived, ReduceDone, StateWritten, StateRead, IssuerGone {}

  /**
   * Who gives orders: 128 random bits a Coordinator draws once when it starts (a
   * restart of its run keeps them; the singleton starting on another node draws new
   * ones). Every order names its issuer, and a worker obeys only the issuer it follows.
   * A token, not a signature: whoever sees the messages (Artery without TLS) can copy it.
   */
  public record Issuer(long high, long low) {
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    /** A fresh issuer, from a cryptographically strong random source. */
    public static Issuer draw() {
      return new Issuer(RANDOM.nextLong(), RANDOM.nextLong());
    }

    /** The first 32 bits in hex: enough to tell issuers apart in a log, too few to copy one. */
    @Override
    public String toString() {
      return String.format("issuer %08x", high >>> 32);
    }
  }

  /**
   * What an introduction proves: the first 128 bits of an HMAC of its issuer under the
   * run's secret ({@link IssuerSeal}), or {@link #NONE} on a run without one.
   */
  public record Proof(long high, long low) {
    /** No proof: a run without {@code bagpipe.security.secret-file}. */
    public static final Proof NONE = new Proof(0, 0);

    @Override
    public String toString() {
      return equals(NONE) ? "no proof" : "a proof";
    }
  }

  /** An order: a command from the Coordinator, obeyed only when {@link #from()} is the issuer the worker follows. */
  public sealed interface Order extends Command permits Introduce, JoinRing, TrainStep, Evaluate, SaveCheckpoint,
      LeaveRing, SendState, ReceiveState, Stop {
    /** The Coordinator that sent the order. */
    Issuer from();
  }

  /**
   * Say who you are: sent by the Coordinator to a worker it found through the
   * Receptionist, with {@code proof} that its issuer belongs to the run; answered by
   * {@link WorkerReady} with the worker's device and data address once the worker
   * follows that issuer (see the class comment).
   */
  public record Introduce(Issuer from, Proof proof, ActorRef<Reply> replyTo) implements Order {}

  /**
   * Take {@code rank} in ring {@code generation}, whose ranks' data addresses are
   * {@code addresses} (rank order); the run has committed {@code committedSteps}
   * global steps, all of which this replica holds. Answered by
   * {@link RingJoined}; the worker trains only in the ring it last joined.
   */
  public record JoinRing(Issuer from, long generation, int rank, List<String> addresses, long committedSteps,
      ActorRef<Reply> replyTo) implements Order {
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
  public record TrainStep(Issuer from, long generation, int epoch, int step, long globalStep, List<BagRef> bags,
      ActorRef<Reply> replyTo) implements Order {
    public TrainStep {
      bags = List.copyOf(bags);
    }
  }

  /**
   * Evaluate these validation bags, batch {@code batch} of {@code epoch}'s
   * validation in ring {@code generation}; answered by one {@link Evaluated}.
   */
  public record Evaluate(Issuer from, long generation, int epoch, int batch, List<BagRef> bags,
      ActorRef<Reply> replyTo) implements Order {
    public Evaluate {
      bags = List.copyOf(bags);
    }
  }

  /**
   * Write a checkpoint of this replica with {@code state}: always as the newest
   * versioned one, and as {@code best.ckpt} too when {@code best}. Answered by
   * {@link CheckpointWritten}.
   */
  public record SaveCheckpoint(Issuer from, RunState state, boolean best, ActorRef<Reply> replyTo)
      implements Order {}

  /**
   * Ring {@code generation} is over (a rank was lost): drop the step in flight, its
   * gradient and every queued order, close this side of the ring, and say which
   * step this replica last applied. Answered by {@link RingLeft}.
   */
  public record LeaveRing(Issuer from, long generation, ActorRef<Reply> replyTo) implements Order {}

  /**
   * Send this replica's parameters and optimizer state, with run position
   * {@code state}, as bulk transfer {@code transfer} to the worker whose data address
   * is {@code to} (a worker joining the run). Answered by {@link StateSent}.
   */
  public record SendState(Issuer from, long transfer, String to, RunState state, ActorRef<Reply> replyTo)
      implements Order {}

  /**
   * Take parameters and optimizer state from bulk transfer {@code transfer}, sent by a
   * live peer: this worker joins a running run. Answered by {@link Healed}.
   */
  public record ReceiveState(Issuer from, long transfer, ActorRef<Reply> replyTo) implements Order {}

  /** Release the replica and stop. */
  public record Stop(Issuer from) implements Order {}

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

  /** The Coordinator of {@code issuer}, whose reply address this worker watched, stopped. */
  private record IssuerGone(Issuer issuer) implements Command, NodeLocal {}

  /**
   * What a worker is made of.
   *
   * @param device the device it trains on, e.g. {@code cpu} or {@code gpu0}
   * @param replica created on the worker's own thread, closed when it stops
   * @param allReduce makes the worker's all-reduce when it joins a ring
   * @param loaders the node's loader pool, which decodes the bags it asks for
   * @param prefetchBags bags requested or decoded-and-waiting at most ({@code bagpipe.loader.prefetch-bags})
   * @param checkpointDir where {@link SaveCheckpoint} writes
   * @param keepCheckpoints versioned checkpoints kept there ({@code bagpipe.checkpoint.keep-last})
   * @param key the Receptionist key the worker registers under, where the run's Coordinator finds it
   * @param meter counts what the worker does, for the node's metrics
   * @param seal checks the proof of a Coordinator's introduction ({@link IssuerSeal#NONE}: no secret)
   */
  public record Setup(String device, Supplier<Replica> replica, AllReduceFactory allReduce,
      ActorRef<LoaderPool.Command> loaders, int prefetchBags, Path checkpointDir, int keepCheckpoints,
      ServiceKey<Command> key, WorkerMeter meter, IssuerSeal seal) {
    public Setup {
      java.util.Objects.requireNonNull(device, "device");
      java.util.Objects.requireNonNull(replica, "replica");
      java.util.Objects.requireNonNull(allReduce, "allReduce");
      java.util.Objects.requireNonNull(loaders, "loaders");
      java.util.Objects.requireNonNull(checkpointDir, "checkpointDir");
      java.util.Objects.requireNonNull(key, "key");
      java.util.Objects.requireNonNull(meter, "meter");
      java.util.Objects.requireNonNull(seal, "seal");
      if (prefetchBags < 1) {
        throw new IllegalArgumentException("prefetchBags must be at least 1 (bagpipe.loader.prefetch-bags), not "
            + prefetchBags);
      }
    }
  }

  /** A worker made of {@code setup} that registers itself with the Receptionist under {@code setup.key()}. */
  public static Behavior<Command> create(Setup setup) {
    return Behaviors.setup(
        ctx -> {
          ctx.getSystem().receptionist().tell(Receptionist.register(setup.key(), ctx.getSelf()));
          return new Worker.Running(ctx, setup.device(), setup.replica().get(), setup.allReduce(), setup.loaders(),
              setup.prefetchBags(), new CheckpointStore(setup.checkpointDir(), setup.keepCheckpoints()),
              setup.meter(), setup.seal()).idle();
        });
  }

  /** The state shared by all phases. */
  private static final class Running {
    /** Introductions held back at most: one new Coordinator is all a take-over needs. */
    static final int HELD = 4;

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
    private final IssuerSeal seal;

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
    /** The Coordinator this worker takes orders from, and the reply address it watches; null before the first. */
    private Issuer issuer;
    private ActorRef<Reply> issuerAddress;
    /** Whether that address stopped: the next issuer to introduce itself is followed. */
    private boolean issuerStopped;
    /** Introductions of other issuers held back while {@link #issuer} lives, oldest first, at most {@link #HELD}. */
    private final ArrayDeque<Introduce> held = new ArrayDeque<>();
    /** Orders refused so far; the first {@link #LOGGED_REFUSALS} are logged one by one. */
    private long refusals;
    private static final int LOGGED_REFUSALS = 10;

    Running(ActorContext<Command> ctx, String device, Replica replica, AllReduceFactory allReduceFactory,
        ActorRef<LoaderPool.Command> loaders, int prefetch, CheckpointStore checkpoints, WorkerMeter meter,
        IssuerSeal seal) {
      this.ctx = ctx;
      this.seal = seal;
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
          .onMessage(Introduce.class, this::introduce)
          .onMessage(IssuerGone.class, this::issuerGone)
          .onMessage(Order.class, m -> !obeys(m), this::refused)
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
          .onMessage(Stop.class, m -> stop())
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
     * What every busy phase does alike: orders of another issuer are refused, more
     * orders queue, the Coordinator may end the ring, checkpoints are written between
     * messages, a second ring while busy is a protocol error, Stop stops, and a stop
     * cleans up.
     */
    private Behavior<Command> busy(org.apache.pekko.actor.typed.javadsl.BehaviorBuilder<Command> phase) {
      return phase
          .onMessage(Introduce.class, this::introduce)
          .onMessage(IssuerGone.class, this::issuerGone)
          .onMessage(Order.class, m -> !obeys(m), this::refused)
          .onMessage(TrainStep.class, this::queue)
          .onMessage(Evaluate.class, this::queue)
          .onMessage(LeaveRing.class, this::leaveRing)
          .onMessage(SaveCheckpoint.class, this::saveCheckpoint)
          .onMessage(JoinRing.class, this::refuse)
          .onMessage(SendState.class, this::refuse)
          .onMessage(ReceiveState.class, this::refuse)
          .onMessage(StateWritten.class, this::stateWritten)
          .onMessage(StateRead.class, this::refuse)
          .onMessage(Stop.class, m -> stop())
          .onSignal(PostStop.class, s -> cleanup())
          .build();
    }

    // ---------------------------------------------------------------- issuers

    /**
     * Follows the first issuer that introduces itself and answers it (again, when it
     * asks again); holds back another issuer's introduction until the followed one
     * stops, so that a Coordinator taking over a run is answered once its predecessor
     * is gone, and a stranger never while the run's Coordinator lives.
     */
    private Behavior<Command> introduce(Introduce m) {
      String doubt = m.replyTo() == null ? "it names no reply address" : seal.refusal(m.from(), m.proof());
      if (!doubt.isEmpty()) {
        if (refuse()) {
          ctx.getLog().warn("worker {} refuses Introduce from {} ({}): {}; see docs/security.md{}", rank,
              m.replyTo() == null ? "a sender that named no reply address" : m.replyTo().path(), m.from(), doubt,
              sofar());
        }
        return Behaviors.same();
      }
      if (issuer == null || (issuerStopped && !issuer.equals(m.from()))) {
        follow(m);
      } else if (issuer.equals(m.from())) {
        if (!m.replyTo().equals(issuerAddress)) { // the same Coordinator, restarted with a new reply address
          ctx.unwatch(issuerAddress);
          issuerAddress = m.replyTo();
          issuerStopped = false;
          ctx.watchWith(issuerAddress, new IssuerGone(issuer));
        }
        ready(m.replyTo());
      } else {
        held.removeIf(h -> h.from().equals(m.from()));
        Introduce dropped = held.size() == HELD ? held.poll() : null;
        held.add(m);
        if (refuse()) {
          if (dropped != null) {
            ctx.getLog().warn("worker {} forgets the introduction from {} ({}): more than {} others are held back",
                rank, dropped.replyTo().path(), dropped.from(), HELD);
          }
          ctx.getLog().warn("worker {} refuses Introduce from {} ({}) for now: it takes orders from {} ({}) and"
              + " answers another Coordinator only once that one stopped. A stranger in the cluster, or a Coordinator"
              + " taking over before this node saw its predecessor go; see docs/security.md{}", rank,
              m.replyTo().path(), m.from(), issuerAddress.path(), issuer, sofar());
        }
      }
      return Behaviors.same();
    }

    private void follow(Introduce m) {
      if (issuerAddress != null && !issuerStopped) {
        ctx.unwatch(issuerAddress);
      }
      issuer = m.from();
      issuerAddress = m.replyTo();
      issuerStopped = false;
      held.removeIf(h -> h.from().equals(issuer));
      ctx.watchWith(issuerAddress, new IssuerGone(issuer));
      ctx.getLog().debug("worker {} takes orders from {} ({})", rank, issuerAddress.path(), issuer);
      ready(m.replyTo());
    }

    private void ready(ActorRef<Reply> to) {
      to.tell(new WorkerReady(device, allReduceFactory.address(), ctx.getSelf(),
          new Applied(generation, appliedGlobalStep, appliedEpoch, appliedStep)));
    }

    /**
     * The followed Coordinator stopped: follow the oldest introduction held back, if
     * any, else the next issuer to introduce itself. Until then the stopped one's orders
     * are still obeyed: a watch that fired in error costs no run.
     */
    private Behavior<Command> issuerGone(IssuerGone m) {
      if (!m.issuer().equals(issuer)) {
        return Behaviors.same();
      }
      ctx.getLog().info("worker {}: the Coordinator it took orders from ({}) stopped; it follows the next one", rank,
          issuer);
      issuerStopped = true;
      Introduce next = held.poll();
      if (next != null) {
        follow(next);
      }
      return Behaviors.same();
    }

    private boolean obeys(Order m) {
      return issuer != null && issuer.equals(m.from());
    }

    /** Refuses an order of another issuer: a warning, a count, no answer, no change. */
    private Behavior<Command> refused(Order m) {
      if (!refuse()) {
        return Behaviors.same();
      }
      ActorRef<Reply> replyTo = replyAddress(m);
      ctx.getLog().warn("worker {} refuses {} from {} ({}): it takes orders only from {}; see docs/security.md{}", rank,
          m.getClass().getSimpleName(), replyTo == null ? "a sender that named no reply address" : replyTo.path(),
          m.from(), issuer == null ? "the Coordinator that introduced itself first, and none did yet"
              : "the Coordinator that introduced itself, " + issuerAddress.path() + " (" + issuer + ")",
          sofar());
      return Behaviors.same();
    }

    /**
     * Counts a refused order or introduction and says whether to log it: the first
     * {@link #LOGGED_REFUSALS}, then every 1000th, so that a stranger that keeps sending
     * cannot flood the log (the metric counts every one).
     */
    private boolean refuse() {
      meter.refused();
      refusals++;
      return refusals <= LOGGED_REFUSALS || refusals % 1000 == 0;
    }

    private String sofar() {
      return refusals < LOGGED_REFUSALS ? "" : " (" + refusals + " refused so far; from now on every 1000th is"
          + " logged, all are counted in bagpipe_worker_refused_orders_total)";
    }

    private static ActorRef<Reply> replyAddress(Order m) {
      return switch (m) {
        case Introduce o -> o.replyTo();
        case JoinRing o -> o.replyTo();
        case TrainStep o -> o.replyTo();
        case Evaluate o -> o.replyTo();
        case SaveCheckpoint o -> o.replyTo();
        case LeaveRing o -> o.replyTo();
        case SendState o -> o.replyTo();
        case ReceiveState o -> o.replyTo();
        case Stop o -> null;
      };
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
