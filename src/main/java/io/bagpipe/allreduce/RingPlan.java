package io.bagpipe.allreduce;

/**
 * Which part of a gradient each rank of a ring sends and receives at each step of
 * a ring all-reduce: pure arithmetic, no I/O.
 *
 * <p><b>Why a ring.</b> The vector of {@code n} floats is cut into {@code W}
 * contiguous segments of near-equal size (lengths differ by at most one). Rank
 * {@code r} only ever sends to its right neighbour {@code r+1} and receives from
 * its left neighbour {@code r-1} (mod {@code W}). In <i>reduce-scatter</i> step
 * {@code s} ({@code 0 .. W-2}) rank {@code r} sends segment {@code r-s} (its own
 * values at step 0, afterwards the partial sum it received and added the step
 * before) and receives segment {@code r-s-1}, adding its own values to it. After
 * {@code W-1} steps rank {@code r} holds the complete sum of segment {@code r+1}
 * (it "owns" it). In <i>all-gather</i> step {@code s} rank {@code r} sends segment
 * {@code r+1-s} and receives segment {@code r-s}, which it copies. Every rank thus
 * sends {@code 2(W-1)/W} of the vector whatever {@code W} is, so the time is
 * bounded by one link's bandwidth and does not grow with the number of workers,
 * unlike a parameter server whose links carry {@code W} times the vector. Because
 * each segment's final value is computed once, by its owner, and then copied,
 * every rank ends with bit-identical floats.
 *
 * <p>A useful identity: the segment a rank sends at step {@code t} (counting the
 * {@code 2(W-1)} steps of both phases together) is the one it received at step
 * {@code t-1}, so chunk {@code c} of step {@code t} can leave as soon as chunk
 * {@code c} of step {@code t-1} has arrived and been added.
 *
 * <p><b>Why chunks.</b> A segment larger than {@code chunkFloats} travels as
 * several chunks. While chunk {@code c} is on the wire, chunk {@code c-1} is being
 * added and chunk {@code c+1} is being sent on by the next rank: send, receive and
 * add overlap instead of each waiting for a whole segment (a pipeline), and
 * buffers stay the size of a chunk. An empty segment (when {@code n < W}) still
 * travels as one empty chunk, so every step has at least one frame to carry the
 * step's control values.
 */
public final class RingPlan {

  private final int world;
  private final int length;
  private final int chunkFloats;

  /**
   * @param world ranks in the ring, at least 1
   * @param length floats in the vector, at least 0
   * @param chunkFloats the most floats in one chunk, at least 1
   */
  public RingPlan(int world, int length, int chunkFloats) {
    if (world < 1) {
      throw new IllegalArgumentException("world must be >= 1, got " + world);
    }
    if (length < 0) {
      throw new IllegalArgumentException("length must be >= 0, got " + length);
    }
    if (chunkFloats < 1) {
      throw new IllegalArgumentException("chunkFloats must be >= 1, got " + chunkFloats);
    }
    this.world = world;
    this.length = length;
    this.chunkFloats = chunkFloats;
  }

  public int world() {
    return world;
  }

  public int length() {
    return length;
  }

  public int chunkFloats() {
    return chunkFloats;
  }

  /** Steps of both phases: {@code W-1} of reduce-scatter then {@code W-1} of all-gather. */
  public int steps() {
    return 2 * (world - 1);
  }

  /** Whether {@code step} belongs to reduce-scatter (received chunks are added, not copied). */
  public boolean reduces(int step) {
    checkStep(step);
    return step < world - 1;
  }

  /** Whether {@code step} is the last of reduce-scatter: its receiver owns the segment and finishes it. */
  public boolean finishes(int step) {
    return step == world - 2;
  }

  /** First float of {@code segment}. */
  public int segmentStart(int segment) {
    checkSegment(segment);
    return (int) ((long) segment * length / world);
  }

  /** Floats in {@code segment}: {@code floor(n/W)} or one more. */
  public int segmentLength(int segment) {
    checkSegment(segment);
    return (int) ((long) (segment + 1) * length / world) - segmentStart(segment);
  }

  /** The segment whose complete sum {@code rank} computes and distributes. */
  public int ownedSegment(int rank) {
    checkRank(rank);
    return mod(rank + 1);
  }

  /** The segment {@code rank} sends to its right neighbour at {@code step}. */
  public int sendSegment(int rank, int step) {
    checkRank(rank);
    checkStep(step);
    return step < world - 1 ? mod(rank - step) : mod(rank + 1 - (step - (world - 1)));
  }

  /** The segment {@code rank} receives from its left neighbour at {@code step}. */
  public int receiveSegment(int rank, int step) {
    checkRank(rank);
    checkStep(step);
    return sendSegment(mod(rank - 1), step);
  }

  /** Chunks of {@code segment}: at least one, even for an empty segment. */
  public int chunks(int segment) {
    int len = segmentLength(segment);
    return Math.max(1, (int) ((len + (long) chunkFloats - 1) / chunkFloats));
  }

  /** First float of chunk {@code chunk} of {@code segment}. */
  public int chunkStart(int segment, int chunk) {
    checkChunk(segment, chunk);
    return segmentStart(segment) + (int) Math.min((long) chunk * chunkFloats, segmentLength(segment));
  }

  /** Floats in chunk {@code chunk} of {@code segment}. */
  public int chunkLength(int segment, int chunk) {
    checkChunk(segment, chunk);
    long from = (long) chunk * chunkFloats;
    return (int) Math.max(0, Math.min(chunkFloats, segmentLength(segment) - from));
  }

  private int mod(int v) {
    return Math.floorMod(v, world);
  }

  private void checkRank(int rank) {
    if (rank < 0 || rank >= world) {
      throw new IllegalArgumentException("rank " + rank + " outside world of " + world);
    }
  }

  private void checkStep(int step) {
    if (step < 0 || step >= steps()) {
      throw new IllegalArgumentException("step " + step + " outside 0.." + (steps() - 1));
    }
  }

  private void checkSegment(int segment) {
    if (segment < 0 || segment >= world) {
      throw new IllegalArgumentException("segment " + segment + " outside world of " + world);
    }
  }

  private void checkChunk(int segment, int chunk) {
    if (chunk < 0 || chunk >= chunks(segment)) {
      throw new IllegalArgumentException("chunk " + chunk + " outside 0.." + (chunks(segment) - 1) + " of segment " + segment);
    }
  }

  @Override
  public String toString() {
    return "RingPlan[world=" + world + ", length=" + length + ", chunkFloats=" + chunkFloats + "]";
  }
}
