package io.bagpipe.loader;

import io.bagpipe.bag.BagRef;
import io.bagpipe.features.FeatureFileException;
import io.bagpipe.features.FeatureRows;
import io.bagpipe.serialization.NodeLocal;
import io.bagpipe.slide.Level;
import io.bagpipe.slide.Resize;
import io.bagpipe.slide.Slide;
import io.bagpipe.slide.SlideException;
import io.bagpipe.slide.SlidePool;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.OptionalDouble;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Decodes a run of one bag's patches into the bag's buffer, through the node's
 * shared {@link SlidePool}. Runs on a blocking dispatcher: a read is a blocking
 * native call. One loader decodes one task at a time; {@link LoaderPool} spreads
 * a bag's tasks over its loaders.
 *
 * <p>With a {@link PatchCache}, patches it holds are copied from it and those read
 * from the slide are offered to it; the slide is not even opened for a task whose
 * patches are all cached.
 *
 * <p>A patch outside the slide, or a slide that can't be opened or read, fails
 * the task with a message naming the slide, the coordinate and the bag; the
 * loader itself carries on with the next task.
 */
public final class Loader {

  private Loader() {}

  /** Messages a loader accepts. */
  public sealed interface Command extends NodeLocal permits DecodePatches {}

  /**
   * Decode patches {@code [from, to)} of {@code bag} into {@code target} at the
   * patches' offsets (NHWC uint8). Sent by {@link LoaderPool} only; the target is
   * a node-local buffer that no other task writes to in that range.
   */
  public record DecodePatches(long task, BagRef bag, int from, int to, ByteBuffer target, ActorRef<TaskDone> replyTo)
      implements Command {}

  /**
   * Reply to {@link DecodePatches}: {@code error} is null on success; {@code cacheHits} of the
   * task's patches came from the node's {@link PatchCache} and {@code cacheMisses} were read
   * from the slide (both 0 without a cache or on failure).
   */
  public record TaskDone(long task, long nanos, String error, int cacheHits, int cacheMisses) implements NodeLocal {}

  public static Behavior<Command> create(SlidePool slides) {
    return create(slides, null);
  }

  /** A loader that serves patches from {@code cache} when it holds them and offers it those it reads; null: no cache. */
  public static Behavior<Command> create(SlidePool slides, PatchCache cache) {
    return Behaviors.receive(Command.class).onMessage(DecodePatches.class, m -> decode(slides, cache, m)).build();
  }

  private static Behavior<Command> decode(SlidePool slides, PatchCache cache, DecodePatches m) {
    long t0 = System.nanoTime();
    String error = null;
    int hits = 0;
    try {
      if (cache == null) {
        decodeInto(slides, m.bag(), m.from(), m.to(), m.target());
      } else {
        hits = decodeInto(slides, m.bag(), m.from(), m.to(), m.target(), cache);
      }
    } catch (RuntimeException e) {
      // Any failure is this bag's: answer so the bag is reported and skipped, never lost.
      error = e instanceof SlideException || e instanceof IllegalArgumentException
          ? e.getMessage()
          : "decoding bag " + m.bag().key() + " of slide '" + m.bag().slideId() + "' failed: " + e;
    }
    int misses = cache == null || error != null ? 0 : m.to() - m.from() - hits;
    m.replyTo().tell(new TaskDone(m.task(), System.nanoTime() - t0, error, hits, misses));
    return Behaviors.same();
  }

  /** Reads patches {@code [from, to)} of {@code bag} into {@code target}; public for benchmarks and tests. */
  public static void decodeInto(SlidePool slides, BagRef bag, int from, int to, ByteBuffer target) {
    if (bag.features()) {
      readFeatures(bag, from, to, target);
      return;
    }
    ByteBuffer out = target.duplicate();
    try (SlidePool.Lease lease = slides.acquire(Path.of(bag.slidePath()))) {
      PatchReader reader = PatchReader.of(lease, bag);
      for (int i = from; i < to; i++) {
        reader.read(i, out);
      }
    }
  }

  /**
   * As {@link #decodeInto(SlidePool, BagRef, int, int, ByteBuffer)}, but copies the
   * patches {@code cache} holds and offers it each patch read from the slide; the slide
   * is opened only when a patch is missing. Returns the patches served from the cache.
   */
  public static int decodeInto(SlidePool slides, BagRef bag, int from, int to, ByteBuffer target, PatchCache cache) {
    if (bag.features()) { // feature rows are read from their file, not cached
      decodeInto(slides, bag, from, to, target);
      return 0;
    }
    int bytes = Math.toIntExact((long) bag.patchSize() * bag.patchSize() * 3);
    int source = cache.source(bag);
    int[] xy = bag.coordinates();
    ByteBuffer out = target.duplicate();
    SlidePool.Lease lease = null;
    int hits = 0;
    try {
      PatchReader reader = null;
      for (int i = from; i < to; i++) {
        int x = xy[2 * i];
        int y = xy[2 * i + 1];
        int offset = Math.toIntExact((long) i * bytes);
        if (cache.read(source, x, y, target, offset, bytes)) {
          hits++;
          continue;
        }
        if (reader == null) {
          lease = slides.acquire(Path.of(bag.slidePath()));
          reader = PatchReader.of(lease, bag);
        }
        reader.read(i, out);
        cache.offer(source, x, y, target, offset, bytes);
      }
    } finally {
      if (lease != null) {
        lease.close();
      }
    }
    return hits;
  }

  /**
   * Reads rows {@code [from, to)} of a feature bag from its feature file: only these rows, never
   * the slide's whole matrix. The file's D must be the bag's.
   */
  private static void readFeatures(BagRef bag, int from, int to, ByteBuffer target) {
    try (FeatureRows rows = FeatureRows.open(Path.of(bag.slidePath()))) {
      if (rows.dim() != bag.featureDim()) {
        throw new IllegalArgumentException(bag.slidePath() + ": " + rows.dim() + " features per row, the run trains on "
            + bag.featureDim() + " (slide '" + bag.slideId() + "')");
      }
      int[] xy = bag.coordinates();
      int[] index = new int[to - from];
      for (int i = from; i < to; i++) {
        index[i - from] = xy[2 * i];
      }
      int rowBytes = bag.featureDim() * Float.BYTES;
      ByteBuffer out = target.duplicate().limit(to * rowBytes).position(from * rowBytes).slice();
      rows.read(index, 0, index.length, out);
    } catch (FeatureFileException e) {
      throw new IllegalArgumentException(e.getMessage() + " (bag " + bag.key() + " of slide '" + bag.slideId() + "')", e);
    }
  }

  /** Reads one bag's patches from a leased slide into their places in the bag's buffer. */
  private interface PatchReader {
    /** Reads patch {@code i} into {@code out} at {@code i × patchSize² × 3}; moves {@code out}'s position and limit. */
    void read(int i, ByteBuffer out);

    static PatchReader of(SlidePool.Lease lease, BagRef bag) {
      return bag.targetMpp() > 0 ? atMpp(lease, bag) : atLevel(lease, bag);
    }

    /** Reads {@code patchSize} pixels at {@code bag.level()}. */
    private static PatchReader atLevel(SlidePool.Lease lease, BagRef bag) {
      int p = bag.patchSize();
      long bytes = (long) p * p * 3; // a bag's offsets fit an int only when it fits one buffer: DecodedBag.tooBig
      int[] xy = bag.coordinates();
      Level level0 = lease.slide().level(0);
      Level level = lease.slide().level(bag.level());
      long span = (long) Math.ceil(p * level.downsample());
      return (i, out) -> {
        int x = xy[2 * i];
        int y = xy[2 * i + 1];
        if (x < 0 || y < 0 || x + span > level0.width() || y + span > level0.height()) {
          throw new IllegalArgumentException(
              "patch (" + x + "," + y + ") of bag " + bag.key() + " falls outside slide '" + bag.slideId() + "' ("
                  + level0.width() + "x" + level0.height() + " at level 0); check its coordinate file");
        }
        out.limit(Math.toIntExact((i + 1) * bytes)).position(Math.toIntExact(i * bytes));
        lease.readRegion(bag.level(), x, y, p, p, out);
      };
    }

    /**
     * Reads patches at {@code bag.targetMpp()}: each covers {@code patchSize * targetMpp /
     * slideMpp} level-0 pixels (rounded), read from the coarsest level whose downsample does
     * not pass {@code targetMpp / slideMpp}, then area-averaged (bilinear when enlarging)
     * to {@code patchSize} square. One scratch array per reader holds the source region.
     */
    private static PatchReader atMpp(SlidePool.Lease lease, BagRef bag) {
      int p = bag.patchSize();
      long bytes = (long) p * p * 3;
      int[] xy = bag.coordinates();
      Slide slide = lease.slide();
      OptionalDouble mpp = slide.micronsPerPixelX();
      if (mpp.isEmpty()) {
        throw new IllegalArgumentException("slide '" + bag.slideId() + "' (" + bag.slidePath() + ") does not say its"
            + " microns per pixel (no openslide.mpp-x, no TIFF resolution), which bagpipe.plan.target-mpp = "
            + bag.targetMpp() + " needs; set bagpipe.plan.target-mpp = 0 to read patch-size pixels at level 0");
      }
      long extent = Slide.patchExtent(p, bag.targetMpp(), mpp.getAsDouble());
      Level level0 = slide.level(0);
      Level level = slide.bestLevelForDownsample((double) extent / p);
      int side = (int) Math.max(1, Math.round(extent / level.downsample()));
      if ((long) side * side * 3 > Integer.MAX_VALUE / 2) {
        throw new IllegalArgumentException("a patch of slide '" + bag.slideId() + "' covers " + extent
            + " level-0 pixels, too many to read at once; check bagpipe.plan.target-mpp and patch-size");
      }
      ByteBuffer region = ByteBuffer.allocate(side * side * 3);
      return (i, out) -> {
        int x = xy[2 * i];
        int y = xy[2 * i + 1];
        if (x < 0 || y < 0 || x + extent > level0.width() || y + extent > level0.height()) {
          throw new IllegalArgumentException(
              "patch (" + x + "," + y + ") of bag " + bag.key() + " (" + extent + " level-0 pixels at "
                  + bag.targetMpp() + " um/px) falls outside slide '" + bag.slideId() + "' (" + level0.width() + "x"
                  + level0.height() + " at level 0); check its coordinate file and bagpipe.plan.target-mpp");
        }
        region.clear();
        lease.readRegion(level.index(), x, y, side, side, region);
        out.limit(Math.toIntExact((i + 1) * bytes)).position(Math.toIntExact(i * bytes));
        Resize.rgb(region.array(), side, side, out, p, p);
      };
    }
  }
}
