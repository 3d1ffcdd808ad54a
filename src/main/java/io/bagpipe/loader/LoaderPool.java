package io.bagpipe.loader;

import io.bagpipe.bag.BagRef;
import io.bagpipe.serialization.NodeLocal;
import io.bagpipe.slide.SlidePool;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Routers;

/**
 * A node's loaders behind one address. A worker asks for a bag with
 * {@link LoadBag} only when it has room for it (work pulling: the pool never
 * pushes), so decoded bags in memory are bounded by the workers' prefetch. The
 * pool takes a reused buffer, cuts the bag into tasks of
 * {@code patches-per-task} patches, spreads them over its {@code threads} loader
 * actors on the blocking dispatcher, and answers {@link BagLoaded} when all tasks
 * are done, or {@link BagFailed} naming the slide and the reason when any failed
 * (the buffer then goes back to the pool once every task has stopped writing). A
 * bag whose pixels would not fit one buffer ({@link DecodedBag#MAX_BYTES}) fails at
 * once, naming the settings to lower.
 *
 * <p>With {@code bagpipe.loader.cache.budget} above 0 the pool owns the node's
 * {@link PatchCache}: its loaders read through it, each training bag of a new epoch
 * starts the cache's epoch before its tasks go out, each {@link DecodedBag} carries its
 * cache hits and misses and the cache's bytes, and the cache's memory is freed when the
 * pool stops.
 */
public final class LoaderPool {

  private LoaderPool() {}

  /** Messages the pool accepts. */
  public sealed interface Command extends NodeLocal permits LoadBag, TaskFinished {}

  /** Decode {@code bag}; sent by a worker when it has room for one more decoded bag. */
  public record LoadBag(BagRef bag, ActorRef<Loaded> replyTo) implements Command {}

  /** The answer to {@link LoadBag}. */
  public sealed interface Loaded extends NodeLocal permits BagLoaded, BagFailed {}

  /** The bag's pixels; the receiver must {@link DecodedBag#release()} it. */
  public record BagLoaded(DecodedBag decoded) implements Loaded {}

  /** The bag could not be decoded; {@code reason} names the slide and what failed. */
  public record BagFailed(BagRef bag, String reason) implements Loaded {}

  private record TaskFinished(Loader.TaskDone done) implements Command {}

  private static final class Pending {
    final BagRef bag;
    final ByteBuffer buffer;
    final ActorRef<Loaded> replyTo;
    int remaining;
    long nanos;
    int cacheHits;
    int cacheMisses;
    String error;

    Pending(BagRef bag, ByteBuffer buffer, ActorRef<Loaded> replyTo, int tasks) {
      this.bag = bag;
      this.buffer = buffer;
      this.replyTo = replyTo;
      this.remaining = tasks;
    }
  }

  /**
   * What a pool is made of: its settings, the node's slide pool and bag buffers, the meter that
   * counts its work, and {@code localSlides}, slide id to this node's path of its slide or feature
   * file (from this node's own manifest). With that map the pool reads each bag's slide from it,
   * never from the path a bag arrived with: a bag from another node names a slide, not a file, and
   * a slide id this node's manifest lacks fails the bag. Empty: trust the bags' paths (a pool fed
   * only by this JVM, as {@code predict} does). Start from {@link #of} and add what differs.
   */
  public record Setup(LoaderSettings settings, SlidePool slides, BagBuffers buffers, LoaderMeter meter,
      Optional<Map<String, String>> localSlides) {
    public Setup {
      Objects.requireNonNull(settings, "settings");
      Objects.requireNonNull(slides, "slides");
      Objects.requireNonNull(buffers, "buffers");
      Objects.requireNonNull(meter, "meter");
      localSlides = Objects.requireNonNull(localSlides, "localSlides").map(Map::copyOf);
    }

    /** A pool with a meter of its own that trusts the bags' paths. */
    public static Setup of(LoaderSettings settings, SlidePool slides, BagBuffers buffers) {
      return new Setup(settings, slides, buffers, new LoaderMeter(), Optional.empty());
    }

    /** This setup counting the pool's work in {@code meter}. */
    public Setup withMeter(LoaderMeter meter) {
      return new Setup(settings, slides, buffers, meter, localSlides);
    }

    /** This setup reading each bag's slide from {@code localSlides} (slide id to this node's path). */
    public Setup withLocalSlides(Map<String, String> localSlides) {
      return new Setup(settings, slides, buffers, meter, Optional.of(localSlides));
    }
  }

  /** A pool as {@code setup} describes. */
  public static Behavior<Command> create(Setup setup) {
    LoaderSettings settings = setup.settings();
    SlidePool slides = setup.slides();
    BagBuffers buffers = setup.buffers();
    LoaderMeter meter = setup.meter();
    Map<String, String> local = setup.localSlides().orElse(null);
    return Behaviors.setup(
        ctx -> {
          PatchCache cache = settings.cache().enabled() ? new PatchCache(settings.cache()) : null;
          ActorRef<Loader.Command> loaders =
              ctx.spawn(
                  Routers.pool(
                          settings.threads(),
                          Behaviors.supervise(Loader.create(slides, cache)).onFailure(SupervisorStrategy.restart()))
                      .withRoundRobinRouting()
                      .withRouteeProps(DispatcherSelector.blocking()),
                  "loaders");
          return new Running(ctx, settings, buffers, loaders, cache, meter, local).behavior();
        });
  }

  private static final class Running {
    private final LoaderSettings settings;
    private final BagBuffers buffers;
    private final ActorRef<Loader.Command> loaders;
    private final ActorRef<Loader.TaskDone> taskAdapter;
    /** The node's patch cache; null when off. */
    private final PatchCache cache;
    private final LoaderMeter meter;
    private final Map<Long, Pending> byTask = new HashMap<>();
    /** Slide id to this node's path; null when bags' own paths are trusted. */
    private final Map<String, String> local;
    private long nextTask;

    Running(ActorContext<Command> ctx, LoaderSettings settings, BagBuffers buffers, ActorRef<Loader.Command> loaders,
        PatchCache cache, LoaderMeter meter, Map<String, String> local) {
      this.cache = cache;
      this.meter = meter;
      this.local = local;
      this.settings = settings;
      this.buffers = buffers;
      this.loaders = loaders;
      this.taskAdapter = ctx.messageAdapter(Loader.TaskDone.class, TaskFinished::new);
    }

    Behavior<Command> behavior() {
      return Behaviors.receive(Command.class)
          .onMessage(LoadBag.class, this::load)
          .onMessage(TaskFinished.class, this::finished)
          .onSignal(PostStop.class, s -> {
            if (cache != null) {
              cache.close(); // the loaders, children of this actor, have stopped by now
            }
            return Behaviors.same();
          })
          .build();
    }

    private Behavior<Command> load(LoadBag m) {
      BagRef bag = m.bag();
      if (local != null) {
        String path = local.get(bag.slideId());
        if (path == null) {
          m.replyTo().tell(new BagFailed(bag, "slide '" + bag.slideId() + "' is not in this node's manifest"
              + " (bagpipe.data.manifest): every node must list the same slides"));
          return Behaviors.same();
        }
        if (!path.equals(bag.slidePath())) {
          bag = new BagRef(bag.slideId(), path, bag.label(), bag.coordinates(), bag.patchSize(), bag.level(),
              bag.epoch(), bag.key(), bag.targetMpp(), bag.featureDim());
        }
      }
      int n = bag.size();
      if (n == 0) {
        meter.bagRefused();
        m.replyTo().tell(new BagFailed(bag, "bag " + bag.key() + " of slide '" + bag.slideId() + "' has no patches"));
        return Behaviors.same();
      }
      String tooBig = DecodedBag.tooBig(bag);
      if (tooBig != null) {
        meter.bagRefused();
        m.replyTo().tell(new BagFailed(bag, tooBig));
        return Behaviors.same();
      }
      if (cache != null) {
        cache.epoch(bag.epoch());
      }
      int per = settings.patchesPerTask();
      int tasks = (n + per - 1) / per;
      ByteBuffer buffer = buffers.take((int) DecodedBag.bytes(bag));
      Pending pending = new Pending(bag, buffer, m.replyTo(), tasks);
      meter.bagStarted(tasks);
      for (int from = 0; from < n; from += per) {
        long task = nextTask++;
        byTask.put(task, pending);
        loaders.tell(new Loader.DecodePatches(task, bag, from, Math.min(n, from + per), buffer, taskAdapter));
      }
      return Behaviors.same();
    }

    private Behavior<Command> finished(TaskFinished m) {
      Pending pending = byTask.remove(m.done().task());
      pending.nanos += m.done().nanos();
      pending.cacheHits += m.done().cacheHits();
      pending.cacheMisses += m.done().cacheMisses();
      meter.taskFinished(m.done().nanos(), m.done().cacheHits(), m.done().cacheMisses());
      if (m.done().error() != null && pending.error == null) {
        pending.error = m.done().error();
      }
      if (--pending.remaining == 0) {
        if (pending.error == null) {
          meter.bagDecoded(pending.bag.size());
          pending.replyTo.tell(new BagLoaded(new DecodedBag(pending.bag, pending.buffer, buffers, pending.nanos,
              pending.cacheHits, pending.cacheMisses, cache == null ? 0 : cache.bytes())));
        } else {
          buffers.give(pending.buffer);
          meter.bagFailed();
          pending.replyTo.tell(new BagFailed(pending.bag, pending.error));
        }
      }
      return Behaviors.same();
    }
  }
}
