package io.bagpipe.coordinator;

import io.bagpipe.api.RunEvent;
import io.bagpipe.api.RunResult;
import io.bagpipe.bag.BagRef;
import io.bagpipe.bag.DataSet;
import io.bagpipe.bag.EpochPlan;
import io.bagpipe.bag.PlanSettings;
import io.bagpipe.bag.TrainSchedule;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.serialization.BagpipeMessage;
import io.bagpipe.serialization.NodeLocal;
import io.bagpipe.worker.Worker;
import io.bagpipe.worker.Worker.Applied;
import io.bagpipe.worker.Worker.BagScore;
import io.bagpipe.worker.Worker.BagSkipped;
import io.bagpipe.worker.Worker.CheckpointWritten;
import io.bagpipe.worker.Worker.Evaluated;
import io.bagpipe.worker.Worker.Healed;
import io.bagpipe.worker.Worker.LoaderCounts;
import io.bagpipe.worker.Worker.RingBroken;
import io.bagpipe.worker.Worker.RingJoined;
import io.bagpipe.worker.Worker.RingLeft;
import io.bagpipe.worker.Worker.StageNanos;
import io.bagpipe.worker.Worker.StateSent;
import io.bagpipe.worker.Worker.StepDone;
import io.bagpipe.worker.Worker.WorkerReady;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * Runs a training run: plans each epoch, deals bags to the workers step by step,
 * commits steps, merges metrics, has checkpoints written, and regroups the ring
 * when a worker is lost (docs/adr/0008). It carries no pixels and no gradients:
 * only bag coordinates, step reports and metrics pass through it.
 *
 * <p>Phases: {@code awaitingWorkers} (workers found through the Receptionist are
 * introduced; once {@code bagpipe.train} needs are met ring generation 1 is formed)
 * → {@code training(epoch)} (each step's bags are dealt over the ranks, a step or two
 * ahead of the last committed one; a step is committed when every rank of the ring
 * reported it applied) → {@code validating(epoch)} (validation bags dealt in batches
 * to whichever rank asks for more, each batch scored once) → {@code checkpointing}
 * → the next epoch, or done. {@link Stop} in training stops dealing, waits for the
 * dealt steps to commit, checkpoints at that plan position and completes.
 *
 * <p>Losing a rank, in any phase after the ring formed (its actor or node stopped, a
 * rank reported {@link RingBroken}, or a rank missed its deadline), leads through
 * {@code regrouping} (every rank of the broken ring is told to {@link Worker.LeaveRing
 * leave it} and says which step it applied last; a rank that does not answer in
 * time is evicted) and {@code joining} (the survivors form the next generation) back
 * into the phase that was cut: training goes on from the last committed step with the
 * same bags, validation re-deals the batches that were not scored, a checkpoint is
 * written again. {@link FailurePolicy} decides whether the run goes on.
 */
public final class Coordinator {

  private Coordinator() {}

  /**
   * Steps dealt beyond the last committed one, at least: a worker has the bags of the
   * step after next while it trains one, so it can decode them while the Coordinator
   * hears of the step before. More when a worker's {@code prefetch-bags} spans more steps.
   */
  static final int LOOKAHEAD = 3;

  /** Validation bags per {@link Worker.Evaluate}; each rank holds at most two batches at a time. */
  static final int VALIDATION_BATCH = 4;

  /** Messages the Coordinator accepts. */
  public sealed interface Command extends BagpipeMessage
      permits Stop, FromWorker, WorkersListed, WorkerTerminated, DeadlinePassed {}

  /** Stop the run gracefully: finish the steps dealt, checkpoint, complete. */
  public enum Stop implements Command {
    INSTANCE
  }

  /** A worker's {@link Worker.Reply}, adapted (node-local: the reply itself is what crosses nodes). */
  private record FromWorker(Worker.Reply reply) implements Command, NodeLocal {}

  private record WorkerTerminated(ActorRef<Worker.Command> worker) implements Command, NodeLocal {}

  /** The Receptionist's current list of the run's workers (adapted, node-local). */
  private record WorkersListed(Set<ActorRef<Worker.Command>> workers) implements Command, NodeLocal {}

  /** The deadline set {@code serial}-th passed; a later one replaced it when the serial differs. */
  private record DeadlinePassed(long serial) implements Command, NodeLocal {}

  /**
   * Everything a Coordinator needs.
   *
   * @param start where the run begins: {@code RunState.start(...)} or a checkpoint's state
   * @param classes number of classes of the slide labels
   * @param maximize whether a larger {@code start.bestMetric()} is better
   * @param prefetchBags bags a worker decodes ahead ({@code bagpipe.loader.prefetch-bags}): steps are dealt
   *     far enough ahead to keep them busy
   * @param learningRate the learning rate of a global step, as the workers' schedule computes it,
   *     for the epoch record's {@code lr}
   * @param seal proves to the workers that this Coordinator's issuer belongs to the run
   *     ({@code bagpipe.security.secret-file}; {@code IssuerSeal.NONE} without one)
   */
  public record Setup(TrainSettings train, PlanSettings plan, ElasticSettings elastic, DataSet data, int classes,
      RunState start, boolean maximize, int prefetchBags, io.bagpipe.checkpoint.CheckpointSettings checkpoint,
      MetricsLog metrics,
      MetricsLog faults, Quarantine quarantine, ActorRef<RunEvent> events,
      ServiceKey<Worker.Command> workersKey, Supplier<java.util.Optional<RunState>> newestCheckpoint,
      java.util.function.LongToDoubleFunction learningRate, io.bagpipe.worker.IssuerSeal seal) {}

  /** Times a minute the run is started again after an exception before the run fails. */
  static final int RESTARTS = 3;

  /**
   * The Coordinator: the run itself lives in a child actor. An exception in it restarts
   * it, and the restarted run finds workers that trained under its predecessor and
   * takes over from them, as after losing the Coordinator's node. After
   * {@link #RESTARTS} restarts within a minute the run fails with the exception,
   * instead of leaving every node waiting for a Coordinator that is gone.
   */
  public static Behavior<Command> create(Setup setup) {
    return Behaviors.setup(ctx -> {
      // Drawn here, not in the run: a restarted run is the same Coordinator to the workers that follow it.
      Worker.Issuer issuer = Worker.Issuer.draw();
      ActorRef<Command> run = ctx.spawn(Behaviors.supervise(running(setup, issuer)).onFailure(Exception.class,
          SupervisorStrategy.restart().withLimit(RESTARTS, Duration.ofMinutes(1))), "run");
      ctx.watch(run);
      return Behaviors.receive(Command.class)
          .onAnyMessage(m -> {
            run.tell(m);
            return Behaviors.same();
          })
          .onSignal(ChildFailed.class, f -> {
            String reason = "the Coordinator failed " + (RESTARTS + 1) + " times within a minute, last with "
                + f.getCause() + "; this is a bug, please report it with the log. The run can resume from its"
                + " newest checkpoint (bagpipe.train.resume = true)";
            ctx.getLog().error(reason, f.getCause());
            setup.events().tell(new RunEvent.RunFailed(reason));
            return Behaviors.stopped();
          })
          .onSignal(Terminated.class, t -> Behaviors.stopped())
          .build();
    });
  }

  private static Behavior<Command> running(Setup setup, Worker.Issuer issuer) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      ctx.getSystem().receptionist().tell(Receptionist.subscribe(setup.workersKey(),
          ctx.messageAdapter(Receptionist.Listing.class, l -> new WorkersListed(l.getServiceInstances(setup.workersKey())))));
      return new Coordinator.Run(ctx, timers, setup, issuer).awaitingWorkers();
    }));
  }

  /** Whether a {@link FromWorker} holds a reply of {@code type}. */
  private static org.apache.pekko.japi.function.Predicate<FromWorker> is(Class<? extends Worker.Reply> type) {
    return w -> type.isInstance(w.reply());
  }

  /** {@code handler} of replies of {@code type}, applied to the reply a {@link FromWorker} holds. */
  private static <R extends Worker.Reply> org.apache.pekko.japi.function.Function<FromWorker, Behavior<Command>> reply(
      Class<R> type, org.apache.pekko.japi.function.Function<R, Behavior<Command>> handler) {
    return w -> handler.apply(type.cast(w.reply()));
  }

  private static final class Run {
    private final ActorContext<Command> ctx;
    /** Names this Coordinator in every order; workers obey only the issuer they introduced themselves to. */
    private final Worker.Issuer issuer;
    /** Where workers send their replies: adapted into {@link FromWorker}. */
    private final ActorRef<Worker.Reply> replies;
    private final TimerScheduler<Command> timers;
    private final Setup setup;
    /** Workers that must be up to start; with {@code bags-per-step} it fixes the bags of a step. */
    private final int startWorkers;
    private final int stepBags;
    /** Slides whose reads failed, by id: left out of the epochs after the one they failed in. */
    private final Map<String, Quarantine.Entry> quarantined;
    /** The epoch being trained or validated, for slides quarantined in it. */
    private int epochNow;
    /** Workers that answered {@link Worker.Introduce}, whether in the ring or not. */
    private final Map<ActorRef<Worker.Command>, WorkerReady> ready = new HashMap<>();
    private final Set<ActorRef<Worker.Command>> introduced = new HashSet<>();
    /** The ring of {@link #generation}: its workers in rank order. */
    private List<ActorRef<Worker.Command>> ring = List.of();
    /** Ready workers not in the ring: they join at the next step boundary, healed from a live peer. */
    private final List<ActorRef<Worker.Command>> waiting = new ArrayList<>();
    private long generation;
    /** Global steps the run has committed: every replica in the ring holds all of them. */
    private long committedSteps;
    private long transfers;
    private long deadlineSerial;
    /** Wall time of the slowest recent step, the base of every deadline. */
    private long slowestStepNanos;
    /** Whether the current ring committed a step. */
    private boolean warm;
    /** When the last checkpoint was written (or the epoch began). */
    private long lastCheckpointNanos = System.nanoTime();
    /** Losses, joins and take-overs not yet followed by a committed step; written to faults.jsonl at that step. */
    private final FaultLog faults;
    /** When each waiting worker became ready, for the fault log. */
    private final Map<ActorRef<Worker.Command>, Long> readyAt = new HashMap<>();
    private RunState state;
    private EpochRecord lastRecord;
    private String lastCheckpoint = "";
    private String bestCheckpoint = "";
    private int epochsCompleted;
    private boolean stopRequested;
    /** The current epoch's ledger; null before the first. */
    private EpochLedger ledger;

    Run(ActorContext<Command> ctx, TimerScheduler<Command> timers, Setup setup, Worker.Issuer issuer) {
      this.ctx = ctx;
      this.issuer = issuer;
      this.replies = ctx.messageAdapter(Worker.Reply.class, FromWorker::new);
      this.timers = timers;
      this.setup = setup;
      this.startWorkers = setup.train().workers();
      // A resumed run keeps the bags of a step it was started with, whatever the workers now.
      String started = setup.start().extras().get("step_bags");
      this.stepBags = started != null ? Integer.parseInt(started) : startWorkers * setup.plan().bagsPerStep();
      this.state = setup.start();
      this.committedSteps = state.globalStep();
      org.apache.pekko.actor.Address self = ctx.getSystem().address();
      this.faults = new FaultLog(setup.faults(), self.getHost().orElse("local") + ":" + self.getPort().orElse(0));
      try {
        this.quarantined = new java.util.LinkedHashMap<>(setup.quarantine().load());
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException("cannot read " + setup.quarantine().file(), e);
      }
    }

    /** The slides of {@code slides} not quarantined before {@code epoch} (or in it, {@code andDuring}). */
    private List<io.bagpipe.bag.SlideEntry> usable(List<io.bagpipe.bag.SlideEntry> slides, int epoch,
        boolean andDuring) {
      return slides.stream().filter(s -> {
        Quarantine.Entry q = quarantined.get(s.slideId());
        return q == null || (andDuring ? q.epoch() > epoch : q.epoch() >= epoch);
      }).toList();
    }

    // ------------------------------------------------------------------ start

    Behavior<Command> awaitingWorkers() {
      return Behaviors.receive(Command.class)
          .onMessage(WorkersListed.class, this::listed)
          .onMessage(FromWorker.class, is(WorkerReady.class), reply(WorkerReady.class, this::workerReady))
          .onMessage(WorkerTerminated.class, m -> {
            ready.remove(m.worker());
            return Behaviors.same();
          })
          .onMessageEquals(Stop.INSTANCE, () -> complete(true))
          .onAnyMessage(m -> unexpected(m, "awaiting workers"))
          .build();
    }

    private Behavior<Command> listed(WorkersListed m) {
      for (ActorRef<Worker.Command> w : m.workers()) {
        if (introduced.add(w)) {
          w.tell(new Worker.Introduce(issuer, setup.seal().prove(issuer), replies));
        }
      }
      return Behaviors.same();
    }

    /** Forms ring generation 1 once enough workers are ready. */
    private Behavior<Command> workerReady(WorkerReady m) {
      if (ready.containsKey(m.worker())) {
        return Behaviors.same();
      }
      ready.put(m.worker(), m);
      ctx.watchWith(m.worker(), new WorkerTerminated(m.worker()));
      if (generation > 0) { // the run is under way: it joins at the next step boundary
        waiting.add(m.worker());
        readyAt.put(m.worker(), System.currentTimeMillis());
        ctx.getLog().info("{} is ready and joins at the next step boundary", who(m.worker()));
        return Behaviors.same();
      }
      if (m.applied().generation() > 0) { // it trained in a ring this Coordinator did not form
        return takingOver();
      }
      if (ready.size() < startWorkers) {
        return Behaviors.same();
      }
      List<ActorRef<Worker.Command>> members = new ArrayList<>(ready.keySet());
      return joining(members, () -> {
        for (int rank = 0; rank < ring.size(); rank++) {
          setup.events().tell(new RunEvent.WorkerJoined(rank, ready.get(ring.get(rank)).device()));
        }
        setup.events().tell(new RunEvent.RunStarted(setup.train().runDir().toString(), ring.size(),
            setup.train().epochs(), state.epoch(), state.step(), setup.data().train().size(),
            setup.data().validation().size()));
        return startEpoch();
      });
    }

    /**
     * Workers that trained under another Coordinator (its node died; this one is the
     * singleton's new incarnation): let every worker of the run introduce itself for
     * {@code bagpipe.elastic.deadline-floor}, have each leave whatever ring it is in and
     * say where its replica stands, and go on from there: the run position of the
     * last step they all applied, the best value so far from the newest checkpoint.
     * Without an agreeing live replica the run ends; its newest checkpoint stays.
     */
    private Behavior<Command> takingOver() {
      long serial = deadline(setup.elastic().deadlineFloor());
      ctx.getLog().warn("taking over a run under way: gathering its workers");
      faults.add(new FaultLog.Recovery("takeover", "a new Coordinator took over the run",
          System.currentTimeMillis()));
      return Behaviors.receive(Command.class)
          .onMessage(WorkersListed.class, this::listed)
          .onMessage(FromWorker.class, is(WorkerReady.class), reply(WorkerReady.class, m -> {
            if (!ready.containsKey(m.worker())) {
              ready.put(m.worker(), m);
              ctx.watchWith(m.worker(), new WorkerTerminated(m.worker()));
            }
            return Behaviors.same();
          }))
          .onMessage(WorkerTerminated.class, m -> {
            ready.remove(m.worker());
            return Behaviors.same();
          })
          .onMessage(DeadlinePassed.class, m -> m.serial() != serial ? Behaviors.same() : gatherPositions())
          .onMessageEquals(Stop.INSTANCE, () -> complete(true))
          .onAnyMessage(m -> unexpected(m, "taking over"))
          .build();
    }

    private Behavior<Command> gatherPositions() {
      Map<ActorRef<Worker.Command>, Applied> positions = new HashMap<>();
      Set<ActorRef<Worker.Command>> asked = new HashSet<>();
      for (WorkerReady r : ready.values()) {
        if (r.applied().generation() > 0) {
          asked.add(r.worker());
          r.worker().tell(new Worker.LeaveRing(issuer, r.applied().generation(), replies));
        } else {
          waiting.add(r.worker()); // never trained: it joins, healed, at the first step boundary
        }
      }
      long serial = deadline(setup.elastic().firstStepDeadline());
      Supplier<Behavior<Command>> decide = () -> {
        if (positions.size() < asked.size()) {
          return Behaviors.same();
        }
        timers.cancel(DeadlinePassed.class);
        return tookOver(positions);
      };
      return Behaviors.receive(Command.class)
          .onMessage(WorkersListed.class, this::listed)
          .onMessage(FromWorker.class, is(WorkerReady.class), reply(WorkerReady.class, m -> {
            if (!ready.containsKey(m.worker())) {
              ready.put(m.worker(), m);
              ctx.watchWith(m.worker(), new WorkerTerminated(m.worker()));
              if (m.applied().generation() > 0) {
                asked.add(m.worker());
                m.worker().tell(new Worker.LeaveRing(issuer, m.applied().generation(), replies));
              } else {
                waiting.add(m.worker());
              }
            }
            return Behaviors.same();
          }))
          .onMessage(FromWorker.class, is(RingLeft.class), reply(RingLeft.class, m -> {
            if (asked.contains(m.worker())) {
              positions.put(m.worker(), m.applied());
            }
            return decide.get();
          }))
          .onMessage(WorkerTerminated.class, m -> {
            ready.remove(m.worker());
            asked.remove(m.worker());
            waiting.remove(m.worker());
            positions.remove(m.worker());
            return decide.get();
          })
          .onMessage(DeadlinePassed.class, m -> {
            if (m.serial() != serial) {
              return Behaviors.same();
            }
            for (ActorRef<Worker.Command> w : List.copyOf(asked)) {
              if (!positions.containsKey(w)) {
                asked.remove(w);
                ctx.getLog().warn("leaving {} out: it did not say where its replica stands", who(w));
                ctx.unwatch(w);
                ready.remove(w);
                w.tell(new Worker.Stop(issuer));
              }
            }
            return decide.get();
          })
          .onMessageEquals(Stop.INSTANCE, () -> complete(true))
          .onAnyMessage(m -> unexpected(m, "taking over"))
          .build();
    }

    private Behavior<Command> tookOver(Map<ActorRef<Worker.Command>, Applied> positions) {
      if (positions.isEmpty()) {
        return fail("took over a run whose workers are all gone; it can resume from its newest checkpoint"
            + " (bagpipe.train.resume = true)");
      }
      Map<Integer, Long> byRank = new TreeMap<>();
      int i = 0;
      for (Applied a : positions.values()) {
        byRank.put(i++, a.globalStep());
        generation = Math.max(generation, a.generation());
      }
      if (FailurePolicy.applied(byRank) instanceof FailureDecision.Abort(String reason)) {
        return fail(reason);
      }
      Applied at = positions.values().stream().max(Comparator.comparingLong(Applied::globalStep)).orElseThrow();
      RunState newest = setup.newestCheckpoint().get().orElse(setup.start());
      RunState base = newest.withExtras(EpochLedger.without(newest.extras())); // its ledger stops where it was written
      state = at.globalStep() < 0 ? base : base.at(at.epoch(), at.step() + 1, at.globalStep() + 1);
      committedSteps = state.globalStep();
      ctx.getLog().warn("took over the run at epoch {} step {} with {} worker(s)", state.epoch() + 1, state.step(),
          positions.size());
      try { // the lost Coordinator may have recorded this epoch before its checkpoint: it is recorded again
        setup.metrics().dropFrom(state.epoch());
      } catch (java.io.IOException e) {
        ctx.getLog().warn("cannot rewrite {}: {}", setup.metrics().file(), e.getMessage());
      }
      java.util.function.Function<List<ActorRef<Worker.Command>>, Behavior<Command>> go = members ->
          joining(members, () -> {
            setup.events().tell(new RunEvent.RingReformed(generation, ring.size(), "a new Coordinator took over the"
                + " run at epoch " + (state.epoch() + 1) + " step " + state.step()));
            return ring.size() < setup.elastic().minWorkers() ? pausing("the Coordinator's node", this::startEpoch)
                : startEpoch();
          });
      List<ActorRef<Worker.Command>> ahead = positions.entrySet().stream()
          .filter(e -> e.getValue().globalStep() == at.globalStep()).map(Map.Entry::getKey).toList();
      List<ActorRef<Worker.Command>> behind = positions.entrySet().stream()
          .filter(e -> e.getValue().globalStep() < at.globalStep()).map(Map.Entry::getKey).toList();
      if (behind.isEmpty()) {
        return go.apply(ahead);
      }
      // Its predecessor's last step reached some workers and not others: they catch up first.
      ActorRef<Worker.Command> source = ahead.getFirst();
      return healing(source, behind, ahead, false, state, go, () -> {
        positions.remove(source);
        return fail("the worker the others were healed from was lost while the Coordinator took over; the run can"
            + " resume from its newest checkpoint (bagpipe.train.resume = true)");
      });
    }

    // ------------------------------------------------------------------ rings

    /**
     * Forms the next ring generation of {@code members}: ranks follow the workers'
     * actor paths (stable, the same whoever asks), every rank learns every rank's data
     * address, and {@code then} runs once all joined.
     */
    private Behavior<Command> joining(List<ActorRef<Worker.Command>> members, Supplier<Behavior<Command>> then) {
      generation++;
      ring = members.stream().sorted(Comparator.comparing(w -> w.path().toString())).toList();
      List<String> addresses = ring.stream().map(w -> ready.get(w).address()).toList();
      for (int rank = 0; rank < ring.size(); rank++) {
        ring.get(rank).tell(new Worker.JoinRing(issuer, generation, rank, addresses, committedSteps, replies));
      }
      if (ledger != null) {
        ledger.generations.add(generation);
      }
      Set<Integer> joined = new HashSet<>();
      warm = false;
      long serial = deadline(rankDeadline());
      return members()
          .onMessage(FromWorker.class, is(RingJoined.class), reply(RingJoined.class, m -> {
            if (m.generation() != generation || !joined.add(m.rank()) || joined.size() < ring.size()) {
              return Behaviors.same();
            }
            timers.cancel(DeadlinePassed.class);
            faults.ringFormed(generation, ring.size());
            return then.get();
          }))
          .onMessage(WorkerTerminated.class, m -> lost(m.worker(), "stopped", "while the ring formed", then))
          .onMessage(DeadlinePassed.class, m -> {
            if (m.serial() != serial) {
              return Behaviors.same();
            }
            for (int rank = 0; rank < ring.size(); rank++) {
              if (!joined.contains(rank)) {
                return lost(ring.get(rank), "did not join ring generation " + generation + " within "
                    + seconds(rankDeadline()), "while the ring formed", then);
              }
            }
            return Behaviors.same();
          })
          .onMessageEquals(Stop.INSTANCE, this::requestStop)
          .onAnyMessage(m -> unexpected(m, "forming ring generation " + generation))
          .build();
    }

    /** A phase's behaviour after the ring formed: new workers are introduced and wait to join. */
    private org.apache.pekko.actor.typed.javadsl.BehaviorBuilder<Command> members() {
      return Behaviors.receive(Command.class)
          .onMessage(WorkersListed.class, this::listed)
          .onMessage(FromWorker.class, is(WorkerReady.class), reply(WorkerReady.class, this::workerReady));
    }

    /**
     * A worker is lost: when it is in the ring, as {@link FailurePolicy} decides, the
     * ring regroups and {@code resume} continues the phase that was cut.
     */
    private Behavior<Command> lost(ActorRef<Worker.Command> worker, String why, String where,
        Supplier<Behavior<Command>> resume) {
      int rank = ring.indexOf(worker);
      if (rank < 0) {
        ready.remove(worker);
        waiting.remove(worker);
        return Behaviors.same();
      }
      return switch (FailurePolicy.rankLost(rank, where, who(worker) + " " + why)) {
        case FailureDecision.Regroup(String report) -> regrouping(report, Set.of(worker), resume);
        case FailureDecision.Abort(String reason) -> fail(reason);
        case FailureDecision.Skip(String report) -> Behaviors.same();
        case FailureDecision.Pause(String report) -> Behaviors.same();
        case FailureDecision.Retry(String report) -> Behaviors.same();
      };
    }

    /**
     * Every rank of the broken ring but {@code gone} is told to leave it; each answers
     * with the global step it applied last. Ranks that stop, or do not answer by the
     * deadline, are lost too. Then the survivors form the next generation.
     */
    private Behavior<Command> regrouping(String report, Set<ActorRef<Worker.Command>> gone,
        Supplier<Behavior<Command>> resume) {
      ctx.getLog().info("regrouping ring generation {}: {}", generation, report);
      faults.add(new FaultLog.Recovery("lost", report, System.currentTimeMillis()));
      Map<ActorRef<Worker.Command>, Long> applied = new HashMap<>();
      Set<ActorRef<Worker.Command>> lostWorkers = new HashSet<>(gone);
      for (ActorRef<Worker.Command> w : ring) {
        if (!lostWorkers.contains(w)) {
          w.tell(new Worker.LeaveRing(issuer, generation, replies));
        }
      }
      Duration wait = rankDeadline();
      long serial = deadline(wait);
      long broken = generation;
      Supplier<Behavior<Command>> decide = () -> {
        if (applied.size() + lostWorkers.size() < ring.size()) {
          return Behaviors.same();
        }
        timers.cancel(DeadlinePassed.class);
        return regrouped(applied, lostWorkers, resume);
      };
      return members()
          .onMessage(FromWorker.class, is(RingLeft.class), reply(RingLeft.class, m -> {
            if (m.generation() == broken && m.rank() >= 0 && m.rank() < ring.size()
                && !lostWorkers.contains(ring.get(m.rank()))) {
              applied.put(ring.get(m.rank()), m.applied().globalStep());
            }
            return decide.get();
          }))
          .onMessage(WorkerTerminated.class, m -> {
            ready.remove(m.worker());
            if (ring.contains(m.worker())) {
              applied.remove(m.worker());
              lostWorkers.add(m.worker());
            }
            return decide.get();
          })
          .onMessage(DeadlinePassed.class, m -> {
            if (m.serial() != serial) {
              return Behaviors.same();
            }
            for (ActorRef<Worker.Command> w : ring) {
              if (!applied.containsKey(w) && lostWorkers.add(w)) {
                ctx.getLog().warn("evicting {}: it did not leave ring generation {} within {}", who(w), broken,
                    seconds(wait));
                ctx.unwatch(w);
                w.tell(new Worker.Stop(issuer));
                ready.remove(w);
              }
            }
            return decide.get();
          })
          .onMessage(FromWorker.class, is(BagSkipped.class), reply(BagSkipped.class, m -> skipped(m, Behaviors::same)))
          .onMessageEquals(Stop.INSTANCE, this::requestStop)
          .onAnyMessage(m -> {
            ctx.getLog().debug("coordinator ignores {} while regrouping", m);
            return Behaviors.same();
          })
          .build();
    }

    /** All ranks of the broken ring answered or are lost: go on with the survivors, or end. */
    private Behavior<Command> regrouped(Map<ActorRef<Worker.Command>, Long> applied,
        Set<ActorRef<Worker.Command>> lostWorkers, Supplier<Behavior<Command>> resume) {
      Map<Integer, String> survivors = new TreeMap<>();
      Map<Integer, String> lost = new TreeMap<>();
      Map<Integer, Long> appliedByRank = new TreeMap<>();
      for (int rank = 0; rank < ring.size(); rank++) {
        ActorRef<Worker.Command> w = ring.get(rank);
        if (applied.containsKey(w)) {
          survivors.put(rank, who(w));
          appliedByRank.put(rank, applied.get(w));
        } else {
          lost.put(rank, who(w));
          setup.events().tell(new RunEvent.WorkerLeft(rank, "lost from ring generation " + generation));
        }
      }
      if (ledger != null) {
        ledger.workersLost += lost.size();
      }
      FailureDecision next = FailurePolicy.survivors(survivors, lost, setup.elastic());
      if (next instanceof FailureDecision.Abort(String reason)) {
        return fail(reason);
      }
      if (FailurePolicy.applied(appliedByRank) instanceof FailureDecision.Abort(String reason)) {
        return fail(reason);
      }
      long last = java.util.Collections.max(appliedByRank.values());
      List<ActorRef<Worker.Command>> members = ring.stream().filter(applied::containsKey).toList();
      String lostWhat = String.join(", ", lost.values());
      java.util.function.Function<List<ActorRef<Worker.Command>>, Behavior<Command>> regroup = survived -> {
        if (current != null) {
          current.settle(last);
        }
        return joining(survived, () -> {
          setup.events().tell(new RunEvent.RingReformed(generation, ring.size(), "lost " + lostWhat));
          return next instanceof FailureDecision.Pause ? pausing(lostWhat, resume) : resume.get();
        });
      };
      List<ActorRef<Worker.Command>> behind = members.stream().filter(w -> applied.get(w) < last).toList();
      if (behind.isEmpty()) {
        return regroup.apply(members);
      }
      // A rank died inside the last exchange of a step: some survivors applied it, some did
      // not. Those behind get the state of one that did, as a joiner would.
      List<ActorRef<Worker.Command>> ahead = members.stream().filter(w -> applied.get(w) == last).toList();
      ctx.getLog().info("{} survivor(s) missed the last step (global step {}); healing them from {}", behind.size(),
          last, who(ahead.getFirst()));
      ActorRef<Worker.Command> source = ahead.getFirst();
      return healing(source, behind, ahead, false, healPosition(), regroup,
          () -> regrouping(who(source) + " was lost while it healed the others", Set.of(source), resume));
    }

    /**
     * Workers waiting to join get the state of rank 0's replica (parameters, optimizer
     * state, run position at {@code at}) over the data channel, each as a bulk
     * transfer, while the ring is idle at a step boundary. A joiner whose loaded
     * parameters have rank 0's digest enters the next ring generation with the others;
     * one that fails is left out and stopped. Then {@code resume} goes on.
     */
    private Behavior<Command> healing(RunState at, Supplier<Behavior<Command>> resume) {
      List<ActorRef<Worker.Command>> joining = List.copyOf(waiting);
      waiting.clear();
      long start = System.nanoTime();
      int before = ring.size();
      return healing(ring.getFirst(), joining, ring, true, at, members -> members.size() == before
          ? resume.get()
          : joining(members, () -> {
            setup.events().tell(new RunEvent.RingReformed(generation, ring.size(), "healed " + (members.size() - before)
                + " joining worker(s) from rank 0 in " + (System.nanoTime() - start) / 1_000_000 + " ms"));
            return resume.get();
          }), resume);
    }

    /**
     * {@code source} streams its replica's state to each of {@code targets}; those whose
     * loaded parameters have the source's digest join {@code members}, and {@code then}
     * gets the list. {@code joiners}: the targets are workers joining the run (counted in
     * the ledger and the fault log), else survivors that missed a step. A lost source
     * leads to {@code sourceLost}.
     */
    private Behavior<Command> healing(ActorRef<Worker.Command> source, List<ActorRef<Worker.Command>> targets,
        List<ActorRef<Worker.Command>> members, boolean joiners, RunState at,
        java.util.function.Function<List<ActorRef<Worker.Command>>, Behavior<Command>> then,
        Supplier<Behavior<Command>> sourceLost) {
      Map<Long, ActorRef<Worker.Command>> transfersTo = new HashMap<>();
      for (ActorRef<Worker.Command> j : targets) {
        long id = ((long) ctx.getSelf().path().uid() << 32) ^ ++transfers;
        transfersTo.put(id, j);
        j.tell(new Worker.ReceiveState(issuer, id, replies));
        source.tell(new Worker.SendState(issuer, id, ready.get(j).address(), at, replies));
      }
      long firstReady = transfersTo.values().stream().mapToLong(j -> readyAt.getOrDefault(j, System.currentTimeMillis()))
          .min().orElse(System.currentTimeMillis());
      transfersTo.values().forEach(readyAt::remove);
      ctx.getLog().info("healing {} worker(s) from {} at epoch {} step {}", transfersTo.size(), who(source),
          at.epoch() + 1, at.step());
      FaultLog.Recovery join = new FaultLog.Recovery("joined", transfersTo.size() + " worker(s) healed from rank 0",
          firstReady);
      join.healStartMillis = System.currentTimeMillis();
      Map<Long, Long> sent = new HashMap<>();
      Map<Long, Long> loaded = new HashMap<>();
      Set<Long> failed = new HashSet<>();
      long healStart = System.nanoTime();
      long serial = deadline(setup.elastic().deadlineCap());
      Supplier<Behavior<Command>> check = () -> {
        for (long id : transfersTo.keySet()) {
          if (!failed.contains(id) && (!sent.containsKey(id) || !loaded.containsKey(id))) {
            return Behaviors.same();
          }
        }
        timers.cancel(DeadlinePassed.class);
        List<ActorRef<Worker.Command>> healedMembers = new ArrayList<>(members);
        int joined = 0;
        for (var e : transfersTo.entrySet()) {
          if (failed.contains(e.getKey())) {
            continue;
          }
          if (!sent.get(e.getKey()).equals(loaded.get(e.getKey()))) {
            ctx.getLog().warn("leaving {} out: its parameters after healing differ from rank 0's (digest {} vs {})",
                who(e.getValue()), Long.toHexString(loaded.get(e.getKey())), Long.toHexString(sent.get(e.getKey())));
            dropJoiner(e.getValue());
            continue;
          }
          healedMembers.add(e.getValue());
          joined++;
        }
        ctx.getLog().info("healed {} worker(s) in {} ms", joined, (System.nanoTime() - healStart) / 1_000_000);
        if (joiners && joined > 0) {
          if (ledger != null) {
            ledger.workersJoined += joined;
          }
          join.healedMillis = System.currentTimeMillis();
          faults.add(join);
        }
        return then.apply(healedMembers);
      };
      return members()
          .onMessage(FromWorker.class, is(StateSent.class), reply(StateSent.class, m -> {
            if (transfersTo.containsKey(m.transfer())) {
              if (m.error().isEmpty()) {
                sent.put(m.transfer(), m.digest());
              } else {
                ctx.getLog().warn("leaving {} out: rank 0 {}", who(transfersTo.get(m.transfer())), m.error());
                failed.add(m.transfer());
                dropJoiner(transfersTo.get(m.transfer()));
              }
            }
            return check.get();
          }))
          .onMessage(FromWorker.class, is(Healed.class), reply(Healed.class, m -> {
            if (transfersTo.containsKey(m.transfer())) {
              if (m.error().isEmpty()) {
                loaded.put(m.transfer(), m.digest());
              } else {
                ctx.getLog().warn("leaving {} out: {}", who(m.worker()), m.error());
                failed.add(m.transfer());
                dropJoiner(m.worker());
              }
            }
            return check.get();
          }))
          .onMessage(WorkerTerminated.class, m -> {
            if (m.worker().equals(source)) {
              // The source is gone: joiners wait for the next boundary, and the ring regroups.
              timers.cancel(DeadlinePassed.class);
              ready.remove(m.worker());
              if (joiners) {
                transfersTo.values().stream().filter(j -> ready.containsKey(j)).forEach(waiting::add);
                return lost(m.worker(), "stopped", "while it healed joining workers", sourceLost);
              }
              return sourceLost.get();
            }
            transfersTo.forEach((id, j) -> {
              if (j.equals(m.worker())) {
                failed.add(id);
              }
            });
            ready.remove(m.worker());
            return check.get();
          })
          .onMessage(DeadlinePassed.class, m -> {
            if (m.serial() != serial) {
              return Behaviors.same();
            }
            transfersTo.forEach((id, j) -> {
              if (!sent.containsKey(id) || !loaded.containsKey(id)) {
                ctx.getLog().warn("leaving {} out: healing did not finish within {}", who(j),
                    seconds(setup.elastic().deadlineCap()));
                failed.add(id);
                dropJoiner(j);
              }
            });
            return check.get();
          })
          .onMessage(FromWorker.class, is(RingBroken.class), reply(RingBroken.class, m -> Behaviors.same()))
          .onMessageEquals(Stop.INSTANCE, this::requestStop)
          .onAnyMessage(m -> unexpected(m, "healing joining workers"))
          .build();
    }

    private void dropJoiner(ActorRef<Worker.Command> w) {
      ctx.unwatch(w);
      ready.remove(w);
      w.tell(new Worker.Stop(issuer));
    }

    /**
     * Fewer than {@code bagpipe.elastic.min-workers} survived: the run waits, idle, for
     * workers to join (a replacement node), up to {@code bagpipe.elastic.rejoin-timeout},
     * then heals them and goes on; no worker in time ends the run.
     */
    private Behavior<Command> pausing(String lostWhat, Supplier<Behavior<Command>> resume) {
      Duration wait = setup.elastic().rejoinTimeout();
      ctx.getLog().warn("{} worker(s) left, fewer than bagpipe.elastic.min-workers = {}: waiting up to {} for workers"
          + " to join", ring.size(), setup.elastic().minWorkers(), seconds(wait));
      setup.events().tell(new RunEvent.RunPaused(ring.size(), setup.elastic().minWorkers(), wait.toSeconds(), lostWhat));
      long serial = deadline(wait);
      Supplier<Behavior<Command>> check = () -> {
        if (ring.size() + waiting.size() < setup.elastic().minWorkers()) {
          return Behaviors.same();
        }
        timers.cancel(DeadlinePassed.class);
        return healing(healPosition(), resume);
      };
      return Behaviors.receive(Command.class)
          .onMessage(WorkersListed.class, this::listed)
          .onMessage(FromWorker.class, is(WorkerReady.class), reply(WorkerReady.class, m -> {
            workerReady(m);
            return check.get();
          }))
          .onMessage(WorkerTerminated.class, m -> {
            if (ring.contains(m.worker())) {
              return lost(m.worker(), "stopped", "while the run waited for workers", resume);
            }
            ready.remove(m.worker());
            waiting.remove(m.worker());
            return Behaviors.same();
          })
          .onMessage(DeadlinePassed.class, m -> m.serial() != serial ? Behaviors.same()
              : fail("no worker joined within " + seconds(wait) + " (bagpipe.elastic.rejoin-timeout) after losing "
                  + lostWhat + ", and " + ring.size() + " are fewer than bagpipe.elastic.min-workers = "
                  + setup.elastic().minWorkers() + "; start replacement nodes sooner, lower the floor, or resume from"
                  + " the newest checkpoint (bagpipe.train.resume = true)"))
          .onMessageEquals(Stop.INSTANCE, () -> complete(true))
          .onAnyMessage(m -> unexpected(m, "waiting for workers"))
          .build();
    }

    /** The run position joiners are healed at: the last committed step. */
    private RunState healPosition() {
      return current != null ? state.at(current.epoch, current.committed, committedSteps) : state;
    }

    // ------------------------------------------------------------------ training

    /** One step's reports in the current ring, until it commits or is dropped. */
    private static final class StepTally {
      final Set<Integer> ranks = new HashSet<>();
      int bags;
      int stepBags = -1;
      int skipped;
      double lossSum;
      StageNanos times = new StageNanos(0, 0, 0, 0, 0, 0);
      LoaderCounts loader = new LoaderCounts(0, 0, 0, 0);
    }

    /** Progress of one epoch's training. */
    private final class EpochRun {
      final int epoch;
      final TrainSchedule schedule;
      final int firstStep;
      final long firstGlobalStep;
      final long startNanos = System.nanoTime();
      /** Steps of the epoch committed (the next to commit); dealt: the next to deal. */
      int committed;
      int dealt;
      /** The step of the last checkpoint within this epoch (its first step when none). */
      int lastCheckpointStep;
      long lastCommitNanos = System.nanoTime();
      final Map<Integer, StepTally> tallies = new HashMap<>();
      /** Each worker's own time per step (decode wait, upload, forward, backward: not the ring's wait). */
      final Map<String, StepTimeHistogram> stepTimes = new TreeMap<>();
      int bags;
      double lossSum;
      StageNanos times = new StageNanos(0, 0, 0, 0, 0, 0);
      LoaderCounts loader = new LoaderCounts(0, 0, 0, 0);
      /** The bytes each node's patch cache last reported holding, by node address. */
      final Map<String, Long> cacheBytes = new TreeMap<>();
      int reports;
      double trainSeconds;

      EpochRun(int epoch, TrainSchedule schedule, int firstStep, long firstGlobalStep) {
        this.epoch = epoch;
        this.schedule = schedule;
        this.firstStep = firstStep;
        this.firstGlobalStep = firstGlobalStep;
        this.committed = firstStep;
        this.dealt = firstStep;
      }

      int steps() {
        return schedule.steps();
      }

      long globalStep(int step) {
        return firstGlobalStep + (step - firstStep);
      }

      StepTally tally(int step) {
        return tallies.computeIfAbsent(step, s -> new StepTally());
      }

      /** Commits step {@link #committed}: its bags enter the ledger, its reports the epoch's metrics. */
      void commit() {
        StepTally t = tallies.remove(committed);
        int planned = schedule.bagCount(committed, 1);
        int trained = t == null || t.stepBags < 0 ? planned - (t == null ? 0 : t.skipped) : t.stepBags;
        ledger.bagsCommitted += trained;
        ledger.bagsSkipped += t == null ? 0 : t.skipped;
        if (t != null) {
          bags += t.stepBags < 0 ? t.bags : t.stepBags;
          lossSum += t.lossSum;
          times = times.plus(t.times);
          loader = loader.plus(t.loader);
          reports += t.ranks.size();
        }
        committed++;
        committedSteps++;
        long now = System.nanoTime();
        slowestStepNanos = Math.max((long) (slowestStepNanos * 0.9), now - lastCommitNanos);
        lastCommitNanos = now;
      }

      /**
       * After a regroup: steps every survivor applied (up to global step {@code last})
       * are committed even if a lost rank never reported them; the rest of the dealt
       * steps go back to be dealt again, with their own bags.
       */
      void settle(long last) {
        while (committed < dealt && globalStep(committed) <= last) {
          commit();
        }
        ledger.bagsRequeued += schedule.bagCount(committed, dealt - committed);
        tallies.clear();
        dealt = committed;
        lastCommitNanos = System.nanoTime();
      }

      double seconds() {
        return (System.nanoTime() - startNanos) / 1e9;
      }
    }

    /** The epoch in training, or null outside training. */
    private EpochRun current;

    private Behavior<Command> startEpoch() {
      if (state.epoch() >= setup.train().epochs()) {
        return setup.data().test().isEmpty() ? complete(false) : startTest();
      }
      if (patienceRunOut()) {
        // Also on a resume of a run that stopped early: it stays stopped.
        int improved = improvedEpoch();
        setup.events().tell(new RunEvent.EarlyStopped(state.epoch() - 1, state.bestMetric(), state.bestValue(),
            state.bestEpoch(), improved, setup.train().patience()));
        return setup.data().test().isEmpty() ? complete(false) : startTest();
      }
      int epoch = state.epoch();
      epochNow = epoch;
      // Slides quarantined in an earlier epoch are out; one that fails in this epoch stays in
      // its plan (so a resume within the epoch finds the same steps) and its bags are skipped.
      EpochPlan plan = EpochPlan.training(epoch, usable(setup.data().train(), epoch, false),
          setup.data().coordinates(), setup.plan());
      TrainSchedule schedule = TrainSchedule.of(plan, stepBags);
      int firstStep = (int) Math.min(state.step(), schedule.steps());
      EpochRun run = new EpochRun(epoch, schedule, firstStep, state.globalStep());
      committedSteps = state.globalStep();
      ledger = new EpochLedger(epoch, generation);
      if (firstStep > 0 && ledger.restore(state.extras())) {
        run.bags = (int) ledger.trainBags;
        run.lossSum = ledger.trainLossSum;
      } else {
        ledger.bagsPlanned = schedule.bagCount(firstStep, schedule.steps() - firstStep);
        ledger.firstStep = firstStep;
      }
      state = state.withExtras(EpochLedger.without(state.extras()));
      lastCheckpointNanos = System.nanoTime();
      run.lastCheckpointStep = firstStep;
      current = run;
      setup.events().tell(new RunEvent.EpochStarted(epoch, setup.train().epochs(), schedule.steps(), firstStep,
          plan.size()));
      return train(run);
    }

    /** Deals what may be dealt and waits for steps; validation once every step committed. */
    private Behavior<Command> train(EpochRun run) {
      if (run.committed == run.steps()) {
        run.trainSeconds = run.seconds();
        current = null;
        return startValidation(run);
      }
      if (stopRequested && run.committed == run.dealt) {
        current = null;
        return checkpointing(midEpoch(run), false, () -> complete(true));
      }
      boolean checkpointDue = checkpointDue(run);
      if (checkpointDue && run.committed == run.dealt) {
        return checkpointing(midEpoch(run), false, () -> {
          run.lastCheckpointStep = run.committed;
          state = state.withExtras(EpochLedger.without(state.extras()));
          return train(run);
        });
      }
      if (!waiting.isEmpty() && run.committed == run.dealt) {
        return healing(state.at(run.epoch, run.committed, committedSteps), () -> train(run));
      }
      while (!stopRequested && !checkpointDue && waiting.isEmpty() && run.dealt < run.steps()
          && run.dealt < run.committed + lookahead()) {
        int step = run.dealt++;
        for (int rank = 0; rank < ring.size(); rank++) {
          ring.get(rank).tell(new Worker.TrainStep(issuer, generation, run.epoch, step, run.globalStep(step),
              run.schedule.bagsFor(step, rank, ring.size()), replies));
        }
      }
      long serial = deadline(rankDeadline());
      Supplier<Behavior<Command>> resume = () -> train(run);
      return members()
          .onMessage(FromWorker.class, is(StepDone.class), reply(StepDone.class, m -> stepDone(run, m)))
          .onMessage(FromWorker.class, is(BagSkipped.class), reply(BagSkipped.class, m -> {
            if (m.generation() == generation && m.epoch() == run.epoch && m.step() >= run.committed) {
              run.tally(m.step()).skipped++;
            }
            return skipped(m, Behaviors::same);
          }))
          .onMessage(FromWorker.class, is(RingBroken.class), reply(RingBroken.class,
              m -> ringBroken(m, "in step " + m.step() + " of epoch " + m.epoch(), resume)))
          .onMessage(WorkerTerminated.class, m -> lost(m.worker(), "stopped", "in epoch " + run.epoch, resume))
          .onMessage(DeadlinePassed.class, m -> m.serial() != serial ? Behaviors.same() : stepLate(run, resume))
          .onMessageEquals(Stop.INSTANCE, () -> {
            stopRequested = true;
            return Behaviors.same();
          })
          .onAnyMessage(m -> unexpected(m, "training"))
          .build();
    }

    /** Steps to deal ahead: {@link #LOOKAHEAD}, or one more than a worker's prefetch spans. */
    private int lookahead() {
      int perRank = Math.max(1, (stepBags + ring.size() - 1) / ring.size());
      return Math.max(LOOKAHEAD, (setup.prefetchBags() + perRank - 1) / perRank + 1);
    }

    /** Whether a checkpoint within the epoch is due ({@code bagpipe.checkpoint.every-steps}, {@code every}). */
    private boolean checkpointDue(EpochRun run) {
      io.bagpipe.checkpoint.CheckpointSettings c = setup.checkpoint();
      boolean bySteps = c.everySteps() > 0 && run.committed - run.lastCheckpointStep >= c.everySteps();
      boolean byTime = !c.every().isZero() && run.committed > run.lastCheckpointStep
          && System.nanoTime() - lastCheckpointNanos >= c.every().toNanos();
      return run.committed < run.steps() && (bySteps || byTime);
    }

    /** The run state at the last committed step of {@code run}, with the epoch's ledger so far. */
    private RunState midEpoch(EpochRun run) {
      Map<String, String> extras = EpochLedger.without(state.extras());
      extras.putAll(ledger.saved(run.bags, run.lossSum));
      return state.at(run.epoch, run.committed, run.globalStep(run.committed)).withExtras(extras);
    }

    private Behavior<Command> stepDone(EpochRun run, StepDone m) {
      if (m.generation() != generation || m.epoch() != run.epoch || m.step() < run.committed) {
        return unexpected(m, "training epoch " + run.epoch + " in ring generation " + generation);
      }
      StepTally t = run.tally(m.step());
      t.ranks.add(m.rank());
      StageNanos st = m.times();
      run.stepTimes.computeIfAbsent(label(ring.get(m.rank())), k -> new StepTimeHistogram())
          .add(st.decodeWait() + st.upload() + st.forward() + st.backward());
      t.bags += m.bags();
      t.stepBags = m.stepBags();
      t.lossSum += m.lossSum();
      t.times = t.times.plus(m.times());
      t.loader = t.loader.plus(m.loader());
      if (m.loader().cacheHits() + m.loader().cacheMisses() > 0) {
        run.cacheBytes.put(ring.get(m.rank()).path().address().toString(), m.loader().cacheBytes());
      }
      if (m.step() != run.committed || t.ranks.size() < ring.size()) {
        return Behaviors.same();
      }
      int planned = run.schedule.bagCount(run.committed, 1);
      if (t.stepBags + t.skipped != planned) {
        return abort(FailurePolicy.unbalanced(run.epoch, List.of("step " + m.step() + " averaged " + t.stepBags
            + " bags with " + t.skipped + " skipped, of " + planned + " dealt")));
      }
      run.commit();
      while (run.committed < run.dealt && run.tallies.containsKey(run.committed)
          && run.tallies.get(run.committed).ranks.size() == ring.size()) {
        run.commit();
      }
      warm = true;
      if (!faults.isEmpty()) {
        try {
          faults.committed(run.epoch, run.committed);
        } catch (java.io.IOException e) {
          ctx.getLog().warn("cannot append to {}: {}", faults.file(), e.getMessage());
        }
      }
      setup.events().tell(new RunEvent.StepCompleted(run.epoch, run.committed, run.steps(),
          run.bags == 0 ? Double.NaN : run.lossSum / run.bags, run.bags / Math.max(run.seconds(), 1e-9), run.bags));
      return train(run);
    }

    /** A step missed its deadline: the ranks that did not report it are lost. */
    private Behavior<Command> stepLate(EpochRun run, Supplier<Behavior<Command>> resume) {
      StepTally t = run.tallies.get(run.committed);
      List<Integer> missing = new ArrayList<>();
      for (int rank = 0; rank < ring.size(); rank++) {
        if (t == null || !t.ranks.contains(rank)) {
          missing.add(rank);
        }
      }
      Duration d = rankDeadline();
      String why = "did not finish step " + run.committed + " of epoch " + run.epoch + " within " + seconds(d)
          + " (bagpipe.elastic.deadline-*)";
      Set<ActorRef<Worker.Command>> late = new HashSet<>();
      for (int rank : missing) {
        late.add(ring.get(rank));
        ctx.getLog().warn("rank {} ({}) {}", rank, who(ring.get(rank)), why);
      }
      // Late ranks are asked to leave like the others; one that answers stays, one that hangs is evicted.
      return regrouping("rank(s) " + missing + " " + why, Set.of(), resume);
    }

    private Behavior<Command> ringBroken(RingBroken m, String where, Supplier<Behavior<Command>> resume) {
      if (m.generation() != generation) {
        return Behaviors.same();
      }
      String peer = m.peerRank() >= 0 && m.peerRank() < ring.size() ? " (rank " + m.peerRank() + " is "
          + who(ring.get(m.peerRank())) + ")" : "";
      Set<ActorRef<Worker.Command>> gone = m.peerGone() && !peer.isEmpty() ? Set.of(ring.get(m.peerRank())) : Set.of();
      return switch (FailurePolicy.rankLost(m.peerRank(), where, m.reason() + peer)) {
        case FailureDecision.Regroup(String report) -> regrouping(report, gone, resume);
        case FailureDecision.Abort(String reason) -> fail(reason);
        case FailureDecision.Skip(String report) -> Behaviors.same();
        case FailureDecision.Pause(String report) -> Behaviors.same();
        case FailureDecision.Retry(String report) -> Behaviors.same();
      };
    }

    private Behavior<Command> skipped(BagSkipped m, Supplier<Behavior<Command>> phase) {
      if (!quarantined.containsKey(m.slideId())) {
        quarantined.put(m.slideId(), new Quarantine.Entry(epochNow, m.reason()));
        try {
          setup.quarantine().add(m.slideId(), epochNow, m.reason());
        } catch (java.io.IOException e) {
          ctx.getLog().warn("cannot append to {}: {}", setup.quarantine().file(), e.getMessage());
        }
        setup.events().tell(new RunEvent.SlideQuarantined(m.slideId(), epochNow, m.reason()));
        Map<String, String> errors = new java.util.LinkedHashMap<>();
        quarantined.forEach((slide, q) -> errors.put(slide, q.error()));
        if (FailurePolicy.quarantined(errors, setup.data().train().size() + setup.data().validation().size(),
            setup.train().maxQuarantined(), setup.quarantine().file().toString())
            instanceof FailureDecision.Abort(String reason)) {
          return fail(reason);
        }
      }
      return switch (FailurePolicy.bagFailed(m.epoch(), m.bagKey(), m.slideId(), m.reason())) {
        case FailureDecision.Skip(String report) -> {
          ctx.getLog().warn(report);
          setup.events().tell(new RunEvent.BagSkipped(m.epoch(), m.bagKey(), m.slideId(), m.reason()));
          yield phase.get();
        }
        case FailureDecision.Regroup(String report) -> phase.get();
        case FailureDecision.Pause(String report) -> phase.get();
        case FailureDecision.Retry(String report) -> phase.get();
        case FailureDecision.Abort(String reason) -> fail(reason);
      };
    }

    // ------------------------------------------------------------------ validation

    /** Validation of one epoch: batches dealt to whoever has room, each scored once. */
    private final class Validation {
      /** The epoch trained, or null for the test split's pass after the last epoch. */
      final EpochRun run;
      /** The epoch this pass belongs to: {@code run}'s, or the epoch count for the test split. */
      final int epoch;
      final EpochPlan validation;
      /** Validation slides left out of this validation: quarantined up to and in this epoch. */
      final List<String> leftOut;
      final SlidePredictions predictions;
      final long startNanos = System.nanoTime();
      final List<List<BagRef>> batches = new ArrayList<>();
      /** Batches not scored and not held by a rank of the current ring, in order. */
      final java.util.ArrayDeque<Integer> toDeal = new java.util.ArrayDeque<>();
      /** Batch to the rank that holds it, in the current ring. */
      final Map<Integer, Integer> held = new HashMap<>();
      final Set<Integer> scored = new HashSet<>();
      /** Bags of this pass that could not be decoded. */
      long skipped;
      long dealtAt = System.nanoTime();
      long digest;
      int digestRank = -1;

      Validation(EpochRun run, int epoch, List<io.bagpipe.bag.SlideEntry> all) {
        this.run = run;
        this.epoch = epoch;
        List<io.bagpipe.bag.SlideEntry> slides = usable(all, epoch, true);
        this.validation = EpochPlan.validation(slides, setup.data().coordinates(), setup.plan());
        Set<String> kept = new HashSet<>();
        slides.forEach(s -> kept.add(s.slideId()));
        this.leftOut = all.stream().map(io.bagpipe.bag.SlideEntry::slideId)
            .filter(id -> !kept.contains(id)).toList();
        this.predictions = new SlidePredictions(setup.classes());
        List<BagRef> bags = validation.bags();
        for (int i = 0; i < bags.size(); i += VALIDATION_BATCH) {
          toDeal.add(batches.size());
          batches.add(bags.subList(i, Math.min(bags.size(), i + VALIDATION_BATCH)));
        }
      }

      /** The batches a lost ring held go back to be dealt again, first. */
      void requeue() {
        List<Integer> back = new ArrayList<>(held.keySet());
        back.sort(Comparator.reverseOrder());
        back.forEach(toDeal::addFirst);
        held.clear();
      }

      int heldBy(int rank) {
        return (int) held.values().stream().filter(r -> r == rank).count();
      }
    }

    private Behavior<Command> startValidation(EpochRun run) {
      Validation v = new Validation(run, run.epoch, setup.data().validation());
      ledger.valPlanned = v.validation.size();
      setup.events().tell(new RunEvent.ValidationStarted(run.epoch, v.validation.size()));
      return validate(v);
    }

    private Behavior<Command> validate(Validation v) {
      if (v.scored.size() == v.batches.size()) {
        return v.run == null ? recordTest(v) : recordEpoch(v.run, v);
      }
      for (int rank = 0; rank < ring.size(); rank++) {
        while (!v.toDeal.isEmpty() && v.heldBy(rank) < 2) {
          int batch = v.toDeal.poll();
          v.held.put(batch, rank);
          ring.get(rank).tell(new Worker.Evaluate(issuer, generation, v.epoch, batch, v.batches.get(batch), replies));
        }
      }
      long serial = deadline(setup.elastic().deadline(slowestStepNanos * 2L * VALIDATION_BATCH));
      Supplier<Behavior<Command>> resume = () -> {
        v.requeue();
        return validate(v);
      };
      return members()
          .onMessage(FromWorker.class, is(Evaluated.class), reply(Evaluated.class, m -> evaluated(v, m)))
          .onMessage(FromWorker.class, is(BagSkipped.class), reply(BagSkipped.class, m -> {
            if (m.generation() == generation && m.epoch() == v.epoch && m.step() < 0) {
              v.skipped++;
            }
            return skipped(m, Behaviors::same);
          }))
          // A late report of the training ring.
          .onMessage(FromWorker.class, is(RingBroken.class), reply(RingBroken.class, m -> Behaviors.same()))
          .onMessage(WorkerTerminated.class, m -> lost(m.worker(), "stopped", "in validation", resume))
          .onMessage(DeadlinePassed.class, m -> {
            if (m.serial() != serial) {
              return Behaviors.same();
            }
            List<Integer> late = v.held.values().stream().distinct().sorted().toList();
            return regrouping("rank(s) " + late + " did not return a validation batch within "
                + seconds(setup.elastic().deadline(slowestStepNanos * 2L * VALIDATION_BATCH)), Set.of(), resume);
          })
          .onMessageEquals(Stop.INSTANCE, this::requestStop)
          .onAnyMessage(m -> unexpected(m, "validating"))
          .build();
    }

    private Behavior<Command> evaluated(Validation v, Evaluated m) {
      if (m.generation() != generation || v.held.get(m.batch()) == null || v.held.get(m.batch()) != m.rank()) {
        return unexpected(m, "validating in ring generation " + generation);
      }
      v.held.remove(m.batch());
      List<BagRef> batch = v.batches.get(m.batch());
      Set<Long> keys = new HashSet<>();
      for (BagRef b : batch) {
        keys.add(b.key());
      }
      for (BagScore s : m.scores()) {
        if (!keys.remove(s.key())) {
          return abort(FailurePolicy.unbalanced(v.epoch, List.of("validation bag " + s.key()
              + " scored twice or outside batch " + m.batch() + " by rank " + m.rank())));
        }
        double[] p = new double[s.probabilities().length];
        for (int i = 0; i < p.length; i++) {
          p[i] = s.probabilities()[i];
        }
        v.predictions.add(new BagPrediction(s.key(), s.slideId(), s.label(), p, s.loss()));
      }
      v.scored.add(m.batch());
      if (v.run != null) {
        ledger.valScored += m.scores().size();
        ledger.valSkipped += keys.size();
      }
      if (v.digestRank < 0) {
        v.digest = m.parameterDigest();
        v.digestRank = m.rank();
      } else if (v.digest != m.parameterDigest()) {
        return fail(String.format("replicas diverged after epoch %d: worker %d's parameters differ from worker %d's"
            + " (digest %016x vs %016x); this is a bug, please report it", v.epoch + 1, m.rank(),
            v.digestRank, m.parameterDigest(), v.digest));
      }
      return validate(v);
    }

    /** The epoch's merged record: training from the committed steps, validation per slide, the ledger. */
    private EpochRecord epochRecord(EpochRun run, Validation v) {
      ClassificationMetrics m = v.predictions.bags() == 0 ? null : ClassificationMetrics.of(v.predictions);
      int workerSteps = Math.max(1, run.reports);
      StageNanos t = run.times;
      StageTimes stages = new StageTimes(t.decodeWait() / 1e6 / workerSteps, t.upload() / 1e6 / workerSteps,
          t.forward() / 1e6 / workerSteps, t.backward() / 1e6 / workerSteps, t.allReduce() / 1e6 / workerSteps,
          t.optimizer() / 1e6 / workerSteps);
      double nan = Double.NaN;
      Map<String, Object> extras = new TreeMap<>();
      extras.put("skipped_bags", ledger.bagsSkipped + ledger.valSkipped);
      extras.put("val_seconds", (System.nanoTime() - v.startNanos) / 1e9);
      if (v.digestRank >= 0) {
        extras.put("replica_digest", String.format("%016x", v.digest));
      }
      extras.put("workers", ring.size());
      if (run.steps() > 0) {
        extras.put("lr", setup.learningRate().applyAsDouble(run.globalStep(run.steps() - 1)));
      }
      extras.put("quarantined_slides", quarantined.size());
      extras.put("quarantined_val_slides", String.join(",", v.leftOut));
      ledger.into(extras);
      LoaderCounts lc = run.loader;
      extras.put("decode_ms", lc.decodeNanos() / 1e6 / workerSteps);
      extras.put("decode_seconds", lc.decodeNanos() / 1e9);
      if (lc.cacheHits() + lc.cacheMisses() > 0) {
        extras.put("cache_hits", lc.cacheHits());
        extras.put("cache_misses", lc.cacheMisses());
        extras.put("cache_hit_rate", (double) lc.cacheHits() / (lc.cacheHits() + lc.cacheMisses()));
        extras.put("cache_bytes", run.cacheBytes.values().stream().mapToLong(Long::longValue).sum());
      }
      String slowest = null;
      double slowestP95 = -1;
      for (var e : run.stepTimes.entrySet()) {
        double p95 = e.getValue().quantileMillis(0.95);
        extras.put("step_ms_p50." + e.getKey(), e.getValue().quantileMillis(0.5));
        extras.put("step_ms_p95." + e.getKey(), p95);
        if (p95 > slowestP95) {
          slowestP95 = p95;
          slowest = e.getKey();
        }
      }
      if (slowest != null) {
        extras.put("step_ms_slowest", slowest);
      }
      return new EpochRecord(run.epoch, run.bags == 0 ? nan : run.lossSum / run.bags, m == null ? nan : m.loss(),
          m == null ? nan : m.accuracy(), m == null ? nan : m.auc(), m == null ? null : m.confusion(),
          run.trainSeconds > 0 ? run.bags / run.trainSeconds : 0, run.bags, v.predictions.bags(),
          run.seconds(), stages, new TreeMap<>(extras));
    }

    private Behavior<Command> recordEpoch(EpochRun run, Validation v) {
      timers.cancel(DeadlinePassed.class);
      List<String> problems = ledger.problems();
      if (!problems.isEmpty()) {
        return abort(FailurePolicy.unbalanced(run.epoch, problems));
      }
      EpochRecord record = epochRecord(run, v);
      lastRecord = record;
      epochsCompleted++;
      try {
        setup.metrics().append(record);
      } catch (java.io.IOException e) {
        ctx.getLog().warn("cannot append to {}: {}", setup.metrics().file(), e.getMessage());
      }
      try {
        ValidationPredictions.write(setup.train().runDir(), run.epoch, v.predictions.perSlide());
      } catch (java.io.IOException e) {
        ctx.getLog().warn("cannot write the validation predictions of epoch {}: {}", run.epoch, e.getMessage());
      }
      setup.events().tell(new RunEvent.EpochCompleted(record));
      double value = record.metric(state.bestMetric());
      // Ties go to the later epoch: with few validation slides AUC saturates early, and
      // the later model has trained longer at the same score.
      boolean better = !Double.isNaN(value)
          && (!state.hasBest() || (setup.maximize() ? value >= state.bestValue() : value <= state.bestValue()));
      boolean improved = improves(value); // against the last improvement, before the best moves
      if (better) {
        state = state.withBest(value, run.epoch);
      }
      if (improved) {
        Map<String, String> extras = new java.util.LinkedHashMap<>(state.extras());
        extras.put(IMPROVED_EPOCH, Integer.toString(run.epoch));
        extras.put(IMPROVED_VALUE, Double.toString(value));
        state = state.withExtras(extras);
      }
      RunState next = state.at(run.epoch + 1, 0, run.globalStep(run.steps()));
      return checkpointing(next, better, () -> stopRequested ? complete(true) : startEpoch());
    }

    // ------------------------------------------------------------------ early stopping
    //
    // The epoch and value of the last improvement by more than min-delta live in the run state's
    // extras, so a checkpoint carries them and a resume keeps the count. A state without them (a
    // checkpoint of an older version) counts from its best epoch.

    private static final String IMPROVED_EPOCH = "early_stopping_epoch";
    private static final String IMPROVED_VALUE = "early_stopping_value";

    /** The epoch the best metric last improved by more than min-delta, -1 for never. */
    private int improvedEpoch() {
      String e = state.extras().get(IMPROVED_EPOCH);
      return e != null ? Integer.parseInt(e) : state.bestEpoch();
    }

    /** Whether {@code value} improves on the last improvement by more than min-delta. */
    private boolean improves(double value) {
      if (Double.isNaN(value)) {
        return false;
      }
      String v = state.extras().get(IMPROVED_VALUE);
      double reference = v != null ? Double.parseDouble(v) : state.bestValue();
      if (improvedEpoch() < 0 || Double.isNaN(reference)) {
        return true;
      }
      double delta = setup.train().minDelta();
      return setup.maximize() ? value > reference + delta : value < reference - delta;
    }

    /** Whether the epochs completed since the last improvement reach the patience (never when it is 0). */
    private boolean patienceRunOut() {
      int patience = setup.train().patience();
      return patience > 0 && state.epoch() > 0 && (state.epoch() - 1) - improvedEpoch() >= patience;
    }

    /** The test split, scored once with the parameters the last epoch ended with. */
    private Behavior<Command> startTest() {
      epochNow = setup.train().epochs();
      Validation v = new Validation(null, setup.train().epochs(), setup.data().test());
      setup.events().tell(new RunEvent.ValidationStarted(v.epoch, v.validation.size()));
      return validate(v);
    }

    /** Writes the test split's scores ({@code test-metrics.json}, {@code test-predictions.csv}) and completes. */
    private Behavior<Command> recordTest(Validation v) {
      timers.cancel(DeadlinePassed.class);
      ClassificationMetrics m = v.predictions.bags() == 0 ? null : ClassificationMetrics.of(v.predictions);
      double nan = Double.NaN;
      TestResult result = new TestResult(v.epoch, m == null ? 0 : v.predictions.perSlide().size(),
          v.predictions.bags(), m == null ? nan : m.loss(), m == null ? nan : m.accuracy(), m == null ? nan : m.auc(),
          m == null ? null : m.confusion(), v.leftOut, v.skipped);
      java.nio.file.Path dir = setup.metrics().file().toAbsolutePath().getParent();
      try {
        writeAtomically(dir.resolve("test-metrics.json"), result.toJson() + "\n");
        StringBuilder csv = new StringBuilder("slide_id,label,predicted");
        for (int c = 0; c < setup.classes(); c++) {
          csv.append(",p").append(c);
        }
        csv.append('\n');
        for (io.bagpipe.coordinator.SlidePrediction s : v.predictions.perSlide()) {
          csv.append(s.slideId()).append(',').append(s.label()).append(',').append(s.predicted());
          for (double p : s.probabilities()) {
            csv.append(',').append((float) p);
          }
          csv.append('\n');
        }
        writeAtomically(dir.resolve("test-predictions.csv"), csv.toString());
      } catch (java.io.IOException e) {
        ctx.getLog().warn("cannot write the test split's scores to {}: {}", dir, e.getMessage());
      }
      setup.events().tell(new RunEvent.TestScored(result));
      return complete(false);
    }

    private static void writeAtomically(java.nio.file.Path file, String text) throws java.io.IOException {
      java.nio.file.Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
      java.nio.file.Files.writeString(tmp, text);
      java.nio.file.Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    // ------------------------------------------------------------------ checkpoints

    private Behavior<Command> checkpointing(RunState at, boolean best, Supplier<Behavior<Command>> then) {
      return checkpointing(at, best, then, 1);
    }

    private Behavior<Command> checkpointing(RunState at, boolean best, Supplier<Behavior<Command>> then, int attempt) {
      // Rank 0 writes; every replica is identical, so any one would do.
      ActorRef<Worker.Command> writer = ring.getFirst();
      writer.tell(new Worker.SaveCheckpoint(issuer, at, best, replies));
      long serial = deadline(setup.elastic().deadlineCap());
      Supplier<Behavior<Command>> again = () -> checkpointing(at, best, then);
      return members()
          .onMessage(FromWorker.class, is(CheckpointWritten.class), reply(CheckpointWritten.class, m -> {
            timers.cancel(DeadlinePassed.class);
            if (m.error().isEmpty()) {
              lastCheckpoint = m.last();
              if (!m.best().isEmpty()) {
                bestCheckpoint = m.best();
              }
              setup.events().tell(new RunEvent.CheckpointSaved(m.state().epoch(), m.state().step(), m.last(), m.best()));
            } else {
              setup.events().tell(new RunEvent.CheckpointFailed(m.state().epoch(), m.error()));
              switch (FailurePolicy.checkpointFailed(attempt, m.error())) {
                case FailureDecision.Retry(String report) -> {
                  ctx.getLog().warn(report);
                  return checkpointing(at, best, then, attempt + 1);
                }
                case FailureDecision.Abort(String reason) -> {
                  return fail(reason);
                }
                case FailureDecision.Skip skip -> throw new IllegalStateException("checkpoints retry or abort");
                case FailureDecision.Regroup regroup -> throw new IllegalStateException("checkpoints retry or abort");
                case FailureDecision.Pause pause -> throw new IllegalStateException("checkpoints retry or abort");
              }
            }
            state = at;
            lastCheckpointNanos = System.nanoTime();
            return then.get();
          }))
          .onMessage(WorkerTerminated.class, m -> lost(m.worker(), "stopped", "while writing a checkpoint", again))
          .onMessage(FromWorker.class, is(RingBroken.class), reply(RingBroken.class, m -> Behaviors.same()))
          .onMessage(DeadlinePassed.class, m -> m.serial() != serial ? Behaviors.same()
              : regrouping("rank 0 (" + who(writer) + ") did not write the checkpoint within "
                  + seconds(setup.elastic().deadlineCap()) + " (bagpipe.elastic.deadline-cap)", Set.of(), again))
          .onMessageEquals(Stop.INSTANCE, this::requestStop)
          .onAnyMessage(m -> unexpected(m, "checkpointing"))
          .build();
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

    private Behavior<Command> abort(FailureDecision.Abort decision) {
      return fail(decision.reason());
    }

    private Behavior<Command> finish() {
      timers.cancelAll();
      for (ActorRef<Worker.Command> w : ready.keySet()) {
        ctx.unwatch(w);
        w.tell(new Worker.Stop(issuer));
      }
      return Behaviors.stopped();
    }

    /** A stop outside training takes effect at the next phase boundary. */
    private Behavior<Command> requestStop() {
      stopRequested = true;
      return Behaviors.same();
    }

    /**
     * How long a rank may take to finish a step, or to answer while in one: a multiple
     * of the slowest recent step, and at least {@code bagpipe.elastic.first-step-deadline}
     * until the ring committed its first step (its connections are new, a joining
     * worker's first bags warm it up).
     */
    private Duration rankDeadline() {
      Duration d = setup.elastic().deadline(slowestStepNanos);
      Duration first = setup.elastic().firstStepDeadline();
      return warm || d.compareTo(first) >= 0 ? d : first;
    }

    /** Sets the one deadline of the phase (replacing any other); returns its serial. */
    private long deadline(Duration after) {
      long serial = ++deadlineSerial;
      timers.startSingleTimer(DeadlinePassed.class, new DeadlinePassed(serial), after);
      return serial;
    }

    private String who(ActorRef<Worker.Command> worker) {
      WorkerReady r = ready.get(worker);
      return worker.path() + (r == null ? "" : " on " + r.device());
    }

    /** A worker as the epoch record names it: its node's host:port (none in one JVM) and its actor name. */
    private String label(ActorRef<Worker.Command> w) {
      String full = w.path().toStringWithAddress(ctx.getSystem().address());
      return full.replaceFirst("^[a-z]+://[^@/]+@?", "").replace("/user/", "/").replaceFirst("^/", "");
    }

    private static String seconds(Duration d) {
      return String.format("%.1f s", d.toMillis() / 1000.0);
    }

    /** {@code m} (a command, or a worker's reply) is not for this phase: stale news is dropped quietly. */
    private Behavior<Command> unexpected(Object m, String phase) {
      Object r = m instanceof FromWorker(Worker.Reply reply) ? reply : m;
      if (r instanceof WorkersListed || r instanceof DeadlinePassed || r instanceof WorkerReady || r instanceof RingLeft
          || r instanceof StepDone || r instanceof Evaluated || r instanceof RingJoined) {
        // Late or stale: from a ring generation or phase that is over, or membership news.
        ctx.getLog().debug("coordinator ignores {} while {}", r, phase);
      } else {
        ctx.getLog().warn("coordinator ignores {} while {}", r, phase);
      }
      return Behaviors.same();
    }
  }
}
