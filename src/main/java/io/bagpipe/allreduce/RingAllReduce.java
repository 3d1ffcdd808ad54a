package io.bagpipe.allreduce;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One rank's side of a ring all-reduce (ADR 0005, 0006, 0010): the Coordinator forms the
 * ring (a generation number and every rank's {@link DataPort#address()} in rank
 * order); rank {@code r} connects to rank {@code r+1} and accepts rank {@code r-1} on
 * its own {@link DataPort}. Each round runs the {@link RingPlan}: reduce-scatter,
 * then all-gather, chunk by chunk.
 *
 * <p><b>Threads.</b> Construction returns at once; one sender thread (connects to
 * the right neighbour, sends frames) and one receiver thread (accepts the left
 * neighbour, takes frames, adds or copies them into the result) do all I/O.
 * {@link #reduce} only enqueues the round and returns its stage, which completes on
 * one of these threads once this rank holds the whole average and every frame it owed
 * its right neighbour is on its way (over TCP: in the kernel's hands; through shared
 * memory: taken by the neighbour): callbacks attached to it should be cheap (an
 * actor's {@code pipeToSelf} is).
 *
 * <p><b>Frames.</b> A {@link Frame} header {@code (round, step, chunk, floats, vector
 * length, weight, halt)} and the chunk's floats. The weight and the halt bit travel
 * in the header: in reduce-scatter step {@code s} a rank sends the sum (and OR) over
 * itself and the {@code s} ranks before it, so after the last step every rank knows
 * the total weight, and the owner of each segment divides that segment once before
 * the all-gather copies it around, so all ranks hold the same floats. How frames
 * travel, and how far a sender may run ahead of its neighbour, is the {@link Link}'s
 * business: through shared memory to a neighbour on this host ({@code window} slots),
 * over the TCP connection otherwise (TCP's flow control, no acknowledgements).
 *
 * <p><b>The direct path.</b> A vector shorter than {@code direct-below-bytes} is
 * latency-bound: the ring's {@code 2(W-1)} dependent hops cost more than its bytes.
 * Such a round skips both phases: at step {@code t} ({@code 0 .. W-2}) rank {@code r}
 * sends rank {@code r-t}'s whole vector (its own at step 0, then the one it just
 * received) in one {@link Frame#WHOLE} frame with that rank's weight and halt bit, so
 * after {@code W-1} hops every rank holds every vector. Each rank then sums them in
 * rank order {@code 0 .. W-1} and multiplies by {@code 1/total weight}: the same
 * floats in the same order, so all ranks hold bit-identical averages, as on the ring.
 *
 * <p><b>Failure.</b> A closed connection, a protocol error or no progress for
 * {@code timeout} fails every pending round with a {@link RingBrokenException}
 * naming the neighbour; the rank then tells its right neighbour why (an abort frame
 * on the TCP connection, so the reason travels around the ring) and closes its
 * sockets. A broken ring stays broken: later rounds fail at once, and the Coordinator
 * forms a new generation.
 */
public final class RingAllReduce implements AllReduce, AutoCloseable {

  /** How long a rank that sent an abort frame keeps its left connection open, so the reason arrives first. */
  private static final long ABORT_GRACE_MILLIS = 250;

  private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(
      r -> Thread.ofPlatform().daemon().name("bagpipe-ring-watchdog").unstarted(r));

  private final DataPort port;
  /**
   * Whether all-gather chunks are checked for finiteness too. Their floats are sums their
   * owner checked before it sent them, so only a rank that is not Bagpipe can make them bad;
   * on a data channel whose peers proved the run's secret that check is dropped (it cost
   * a tenth of the bandwidth through shared memory).
   */
  private final boolean checkGathered;
  private final long generation;
  private final int rank;
  private final int world;
  private final List<InetSocketAddress> addresses;
  private final AllReduceSettings settings;
  private final int leftRank;
  private final int rightRank;

  private final BlockingQueue<Round> toSend = new LinkedBlockingQueue<>();
  private final BlockingQueue<Round> toReceive = new LinkedBlockingQueue<>();
  private final Queue<Round> inFlight = new ConcurrentLinkedQueue<>();
  private final AtomicReference<RingBrokenException> failure = new AtomicReference<>();
  private final CompletableFuture<Void> connected = new CompletableFuture<>();
  private final AtomicInteger sidesConnected = new AtomicInteger();
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition progress = lock.newCondition();
  private final ReentrantLock rightWrites = new ReentrantLock();
  private final Thread sender;
  private final Thread receiver;
  private final ScheduledFuture<?> watchdog;

  private volatile SocketChannel right;
  private volatile SocketChannel left;
  private volatile Link.Outbound outbound;
  private volatile Link.Inbound inbound;
  private volatile long lastProgressNanos = System.nanoTime();
  private volatile boolean receiverReading;
  /** The sender is inside a send or drain: blocked there, the right neighbour is not taking frames. */
  private volatile boolean senderBlocked;
  private long lastRound = Long.MIN_VALUE;
  /** Rounds whose averages the caller may still read; guarded by this. */
  private final List<Round> handedOut = new java.util.ArrayList<>();
  /** Average arrays the caller is done with, by length, for the next rounds (a few lengths); guarded by this. */
  private final Map<Integer, float[]> spare = new LinkedHashMap<>(8, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Integer, float[]> eldest) {
      return size() > 4;
    }
  };

  private static final Round POISON = new Round(-1, null, 0, false, null, null, 0);

  private static final class Round {
    final long round;
    final float[] gradient;
    final int weight;
    final boolean halt;
    final RingPlan plan;
    final float[] result;
    final int[] receiveOffsets;
    final int[] leftWeight;
    final boolean[] leftHalt;
    /** Direct path only (null on the ring's): every rank's whole vector, weight and halt bit, by rank. */
    final float[][] vectors;
    final int[] weights;
    final boolean[] halts;
    final CompletableFuture<Reduced> future = new CompletableFuture<>();
    final AtomicInteger parts = new AtomicInteger(2);
    volatile int processed;
    int totalWeight;
    boolean totalHalt;

    /** A ring round with {@code plan}, or with a null plan a direct round among {@code world} ranks. */
    Round(long round, float[] gradient, int weight, boolean halt, RingPlan plan, float[] result, int world) {
      this.round = round;
      this.gradient = gradient;
      this.weight = weight;
      this.halt = halt;
      this.plan = plan;
      this.result = result;
      int steps = plan == null ? 0 : plan.steps();
      this.receiveOffsets = new int[steps + 1];
      this.leftWeight = new int[steps];
      this.leftHalt = new boolean[steps];
      boolean direct = plan == null && gradient != null;
      this.vectors = direct ? new float[world][] : null;
      this.weights = direct ? new int[world] : null;
      this.halts = direct ? new boolean[world] : null;
    }
  }

  /**
   * Rank {@code rank} of the ring {@code generation} whose data addresses, in rank
   * order, are {@code addresses} ({@code addresses.get(rank)} is this rank's
   * {@code port}). Returns at once; connecting happens on the ring's own threads
   * (see {@link #connected()}), and rounds may be submitted meanwhile.
   */
  public RingAllReduce(DataPort port, long generation, int rank, List<InetSocketAddress> addresses, AllReduceSettings settings) {
    this.addresses = List.copyOf(addresses);
    this.world = this.addresses.size();
    if (world < 1) {
      throw new IllegalArgumentException("a ring needs at least one address");
    }
    if (rank < 0 || rank >= world) {
      throw new IllegalArgumentException("rank " + rank + " outside world of " + world);
    }
    this.port = port;
    this.checkGathered = !port.auth().enabled();
    this.generation = generation;
    this.rank = rank;
    this.settings = settings;
    this.leftRank = Math.floorMod(rank - 1, world);
    this.rightRank = Math.floorMod(rank + 1, world);
    if (world == 1) {
      sender = null;
      receiver = null;
      watchdog = null;
      connected.complete(null);
      return;
    }
    String name = "bagpipe-ring-g" + generation + "-r" + rank;
    sender = Thread.ofPlatform().daemon().name(name + "-send").start(this::sendLoop);
    receiver = Thread.ofPlatform().daemon().name(name + "-recv").start(this::receiveLoop);
    long period = Math.max(10, Math.min(1000, settings.timeout().toMillis() / 4));
    watchdog = WATCHDOG.scheduleWithFixedDelay(this::checkProgress, period, period, TimeUnit.MILLISECONDS);
  }

  /** Completes when both neighbours are connected; fails like a round does. */
  public CompletionStage<Void> connected() {
    return connected;
  }

  public long generation() {
    return generation;
  }

  public int rank() {
    return rank;
  }

  @Override
  public int world() {
    return world;
  }

  @Override
  public CompletionStage<Reduced> reduce(int rank, long round, float[] gradient, int weight, boolean halt) {
    if (rank != this.rank) {
      throw new IllegalArgumentException("this ring member is rank " + this.rank + ", not " + rank);
    }
    if (weight < 0) {
      throw new IllegalArgumentException("weight must be >= 0, got " + weight);
    }
    // On the ring the check rides along with the passes the round makes anyway: every sum a
    // rank adds is checked in the adding loop, and the right neighbour's sum covers what this
    // rank sends raw at step 0. A separate pass over a 100 MB gradient cost a fifth of the round.
    int bad = world == 1 || settings.direct(gradient.length) ? firstNonFinite(gradient, 0, gradient.length) : -1;
    if (bad >= 0) {
      RingBrokenException e = nonFiniteGradient(round, bad, gradient[bad]);
      if (world > 1) {
        fail(e, true); // the neighbours learn why at once instead of waiting for frames that will not come
      }
      return CompletableFuture.failedFuture(e);
    }
    if (world == 1) {
      checkIncreasing(round);
      float[] avg = new float[gradient.length];
      if (weight > 0) {
        float inv = 1f / weight;
        for (int i = 0; i < avg.length; i++) {
          avg[i] = gradient[i] * inv;
        }
      }
      return CompletableFuture.completedFuture(new Reduced(round, avg, weight, halt));
    }
    Round r;
    synchronized (this) {
      checkIncreasing(round);
      r = new Round(round, gradient, weight, halt,
          settings.direct(gradient.length) ? null : new RingPlan(world, gradient.length, settings.chunkFloats()),
          resultBuffer(gradient.length), world);
      handedOut.add(r);
    }
    RingBrokenException broken = failure.get();
    if (broken != null) {
      r.future.completeExceptionally(broken);
      return r.future;
    }
    for (int t = 0; r.plan != null && t < r.plan.steps(); t++) {
      r.receiveOffsets[t + 1] = r.receiveOffsets[t] + r.plan.chunks(r.plan.receiveSegment(this.rank, t));
    }
    if (inFlight.isEmpty()) {
      lastProgressNanos = System.nanoTime();
    }
    inFlight.add(r);
    toSend.add(r);
    toReceive.add(r);
    broken = failure.get();
    if (broken != null) {
      r.future.completeExceptionally(broken);
    }
    return r.future;
  }

  private synchronized void checkIncreasing(long round) {
    if (round <= lastRound) {
      throw new IllegalStateException("round " + round + " after round " + lastRound + ": rounds must increase");
    }
    lastRound = round;
  }

  /**
   * The array for a new round's average: that of an earlier completed round of the same
   * length when the caller is done with it (its next {@link #reduce} call says so, see
   * {@link AllReduce.Reduced}), else a new one. A round writes every element, and not
   * allocating and zeroing a gradient-sized array per step saves a pass over memory.
   */
  private float[] resultBuffer(int length) {
    for (var it = handedOut.iterator(); it.hasNext(); ) {
      Round old = it.next();
      if (old.future.isDone()) {
        it.remove();
        if (!old.future.isCompletedExceptionally()) {
          spare.put(old.result.length, old.result);
        }
      }
    }
    float[] b = spare.remove(length);
    return b != null ? b : new float[length];
  }

  // ---------------------------------------------------------------- sender

  private void sendLoop() {
    Frame frame = new Frame();
    InetSocketAddress peer = addresses.get(rightRank);
    Link.Outbound out = null;
    try {
      DataPort.Connected connection = DataPort.connectRing(peer, generation, rank, rightRank, world, settings,
          port.auth(), System.nanoTime() + settings.timeout().toNanos(), c -> right = c);
      SocketChannel ch = connection.channel();
      right = ch;
      out = Link.offer(ch, settings, "g" + generation + "-r" + rank + "to" + rightRank, rightWrites,
          () -> failure.get() != null, connection.keys());
      outbound = out;
      RingBrokenException early = failure.get();
      if (early != null) {
        // the ring broke while this side was still connecting (this rank's own gradient,
        // say): fail() had no right connection to tell, so the reason goes out now
        if (tellRight(ch, early)) {
          DataPort.closeQuietly(ch);
        }
        return;
      }
      sideConnected();
      while (true) {
        Round r = toSend.take();
        if (r == POISON || failure.get() != null) {
          return;
        }
        RingPlan plan = r.plan;
        for (int t = 0; plan == null && t < world - 1; t++) {
          // the direct path: at step t, pass on rank (rank - t)'s whole vector
          if (t > 0 && !awaitProcessed(r, t)) {
            return;
          }
          int origin = Math.floorMod(rank - t, world);
          float[] src = t == 0 ? r.gradient : r.vectors[origin];
          frame.whole(r.round, t, origin, src.length, t == 0 ? r.weight : r.weights[origin],
              t == 0 ? r.halt : r.halts[origin]);
          send(out, frame, src, 0);
        }
        for (int t = 0; plan != null && t < plan.steps(); t++) {
          int seg = plan.sendSegment(rank, t);
          float[] src = t == 0 ? r.gradient : r.result;
          for (int c = 0; c < plan.chunks(seg); c++) {
            if (t > 0 && !awaitProcessed(r, r.receiveOffsets[t - 1] + c + 1)) {
              return;
            }
            int w;
            boolean h;
            if (t == 0) {
              w = r.weight;
              h = r.halt;
            } else if (plan.reduces(t)) {
              w = r.leftWeight[t - 1] + r.weight;
              h = r.leftHalt[t - 1] || r.halt;
            } else {
              w = r.totalWeight;
              h = r.totalHalt;
            }
            frame.data(r.round, t, c, plan.chunkLength(seg, c), plan.length(), w, h);
            send(out, frame, src, plan.chunkStart(seg, c));
          }
        }
        senderBlocked = true;
        try {
          out.drain();
        } finally {
          senderBlocked = false;
        }
        lastProgressNanos = System.nanoTime();
        partDone(r);
      }
    } catch (RingBrokenException e) {
      fail(e, false);
    } catch (IOException e) {
      fail(broken(rightRank, "lost the connection to its right neighbour", e), false);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | Error e) {
      fail(new RingBrokenException(generation, -1, null,
          "rank " + rank + " of ring generation " + generation + ": sender failed: " + e, e), true);
    } finally {
      if (out != null) {
        out.close();
      }
    }
  }

  private void send(Link.Outbound out, Frame frame, float[] src, int start) throws IOException {
    senderBlocked = true;
    try {
      out.send(frame, src, start);
    } finally {
      senderBlocked = false;
    }
    lastProgressNanos = System.nanoTime();
  }

  private boolean awaitProcessed(Round r, int frames) throws InterruptedException {
    if (r.processed >= frames) {
      return true;
    }
    lock.lock();
    try {
      while (r.processed < frames) {
        if (failure.get() != null) {
          return false;
        }
        progress.await(100, TimeUnit.MILLISECONDS);
      }
      return true;
    } finally {
      lock.unlock();
    }
  }

  // ---------------------------------------------------------------- receiver

  private void receiveLoop() {
    Frame frame = new Frame();
    float[] scratch = new float[settings.chunkFloats()];
    Link.Inbound in = null;
    try {
      CompletableFuture<DataPort.Incoming> incoming = port.expect(generation, leftRank, rank, world);
      DataPort.Incoming accepted = null;
      while (accepted == null) {
        if (failure.get() != null) {
          port.forget(generation, leftRank);
          return;
        }
        try {
          accepted = incoming.get(100, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          // poll the failure flag again
        } catch (java.util.concurrent.ExecutionException e) {
          throw new IOException("data port " + port.address() + " closed", e.getCause());
        }
      }
      SocketChannel ch = accepted.channel();
      if (accepted.to() != rank || accepted.world() != world) {
        DataPort.refuse(ch, "rank " + rank + " of generation " + generation + " (world " + world
            + ") expected rank " + leftRank + ", got a connection for rank " + accepted.to() + " of world "
            + accepted.world());
        throw broken(leftRank, "got a mismatched handshake from its left neighbour", null);
      }
      DataPort.configure(ch, settings);
      DataPort.accept(ch);
      left = ch;
      in = Link.answer(ch, settings, () -> failure.get() != null, accepted.keys());
      inbound = in;
      if (failure.get() != null) {
        return;
      }
      sideConnected();
      while (true) {
        Round r = toReceive.take();
        if (r == POISON || failure.get() != null) {
          return;
        }
        RingPlan plan = r.plan;
        if (plan == null) {
          receiveWhole(r, in, frame);
        }
        for (int t = 0; plan != null && t < plan.steps(); t++) {
          int seg = plan.receiveSegment(rank, t);
          for (int c = 0; c < plan.chunks(seg); c++) {
            nextFrame(in, frame);
            int len = plan.chunkLength(seg, c);
            if (frame.type != Frame.DATA || frame.round != r.round || frame.step != t || frame.chunk != c
                || frame.length != plan.length() || frame.floats != len) {
              throw broken(leftRank, "got frame (type " + frame.type + ", round " + frame.round + ", step "
                  + frame.step + ", chunk " + frame.chunk + ", " + frame.floats + " of " + frame.length
                  + " floats) where it expected (round " + r.round + ", step " + t + ", chunk " + c + ", " + len
                  + " of " + plan.length() + " floats): do all ranks reduce the same rounds and gradient length,"
                  + " with the same bagpipe.allreduce.chunk-bytes and direct-below-bytes?", null);
            }
            if (plan.reduces(t) && c == 0) {
              r.leftWeight[t] = frame.weight;
              r.leftHalt[t] = frame.halt;
              if (plan.finishes(t)) {
                r.totalWeight = frame.weight + r.weight;
                r.totalHalt = frame.halt || r.halt;
              }
            }
            int start = plan.chunkStart(seg, c);
            receiverReading = true;
            try {
              in.payload(plan.reduces(t) ? scratch : r.result, plan.reduces(t) ? 0 : start, len);
            } finally {
              receiverReading = false;
            }
            // A NaN or infinity in either addend shows in the sum, so checking the sums (or the
            // copied chunk in the all-gather) covers this rank's gradient and what came in; only
            // a chunk that fails is searched for the culprit.
            boolean finite = plan.reduces(t) ? add(r, plan.finishes(t), start, len, scratch)
                : !checkGathered || allFinite(r.result, start, len);
            if (!finite) {
              throw nonFinite(r, plan, t, c, start, len, scratch);
            }
            in.release();
            processed(r);
          }
        }
        partDone(r);
      }
    } catch (RingBrokenException e) {
      fail(e, true);
    } catch (ChannelCipher.Tampered e) {
      fail(broken(leftRank, "got a frame that failed authentication from its left neighbour", e), true);
    } catch (IOException e) {
      fail(broken(leftRank, "lost the connection from its left neighbour", e), true);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | Error e) {
      fail(new RingBrokenException(generation, -1, null,
          "rank " + rank + " of ring generation " + generation + ": receiver failed: " + e, e), true);
    } finally {
      if (in != null) {
        in.close();
      }
    }
  }

  /** Reads the next frame header from the left neighbour; an abort frame breaks the ring with its reason. */
  private void nextFrame(Link.Inbound in, Frame frame) throws IOException {
    receiverReading = true;
    try {
      in.next(frame);
    } finally {
      receiverReading = false;
    }
    if (frame.type == Frame.ABORT) {
      throw broken(leftRank, "was told by its left neighbour that the ring broke: " + frame.reason, null);
    }
  }

  private void processed(Round r) {
    lastProgressNanos = System.nanoTime();
    lock.lock();
    try {
      r.processed++;
      progress.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /**
   * The direct path's receiving side: at step {@code t} the whole vector of rank
   * {@code rank - 1 - t}, kept for the sender to pass on; then the average of all of
   * them, summed in rank order so that every rank computes the same floats.
   */
  private void receiveWhole(Round r, Link.Inbound in, Frame frame) throws IOException {
    int n = r.gradient.length;
    for (int t = 0; t < world - 1; t++) {
      int origin = Math.floorMod(rank - 1 - t, world);
      nextFrame(in, frame);
      if (frame.type != Frame.WHOLE || frame.round != r.round || frame.step != t || frame.chunk != origin
          || frame.length != n || frame.floats != n) {
        throw broken(leftRank, "got frame (type " + frame.type + ", round " + frame.round + ", step " + frame.step
            + ", rank " + frame.chunk + ", " + frame.floats + " of " + frame.length + " floats) where it expected"
            + " rank " + origin + "'s whole vector (round " + r.round + ", step " + t + ", " + n + " floats): do all"
            + " ranks reduce the same rounds and gradient length, with the same bagpipe.allreduce.chunk-bytes and"
            + " direct-below-bytes?", null);
      }
      float[] v = new float[n];
      receiverReading = true;
      try {
        in.payload(v, 0, n);
      } finally {
        receiverReading = false;
      }
      int bad = firstNonFinite(v, 0, n);
      if (bad >= 0) {
        throw broken(leftRank, "got floats that are not finite (round " + r.round + ", rank " + origin
            + "'s whole vector, element " + bad + ": " + v[bad] + ")", null);
      }
      r.vectors[origin] = v;
      r.weights[origin] = frame.weight;
      r.halts[origin] = frame.halt;
      in.release();
      processed(r);
    }
    r.vectors[rank] = r.gradient;
    r.weights[rank] = r.weight;
    r.halts[rank] = r.halt;
    int total = 0;
    boolean halt = false;
    for (int k = 0; k < world; k++) {
      total += r.weights[k];
      halt |= r.halts[k];
    }
    r.totalWeight = total;
    r.totalHalt = halt;
    float[] out = r.result;
    if (total == 0) {
      Arrays.fill(out, 0f);
      return;
    }
    float inv = 1f / total;
    float[][] v = r.vectors;
    for (int i = 0; i < n; i++) {
      float sum = v[0][i];
      for (int k = 1; k < world; k++) {
        sum += v[k][i];
      }
      out[i] = sum * inv;
    }
  }

  /**
   * Names where a chunk's non-finite float came from: this rank's gradient, the left
   * neighbour's raw gradient (step 0: nobody checked it before this rank added it),
   * an overflow of finite addends, or data the left neighbour should never have sent
   * (later steps carry sums it checked itself).
   */
  private RingBrokenException nonFinite(Round r, RingPlan plan, int t, int c, int start, int len, float[] scratch) {
    int bad = 0;
    if (plan.reduces(t)) {
      while (bad < len - 1 && Float.isFinite(r.gradient[start + bad] + scratch[bad])) {
        bad++;
      }
    } else {
      bad = Math.max(0, firstNonFinite(r.result, start, len));
    }
    int element = start + bad;
    if (plan.reduces(t) && !Float.isFinite(r.gradient[element])) {
      return nonFiniteGradient(r.round, element, r.gradient[element]);
    }
    if (plan.reduces(t) && Float.isFinite(scratch[bad])) {
      return broken(rank, "summed finite gradients to a float that overflows (round " + r.round + ", element " + element
          + "): the step stops here; lower the learning rate (bagpipe.optimizer) or enable gradient clipping", null);
    }
    if (t == 0) {
      return broken(leftRank, "got a gradient that is not finite from its left neighbour: rank " + leftRank
          + " computed a gradient that is not finite in round " + r.round + " (element " + element + " is "
          + scratch[bad] + "); the step stops here; lower the learning rate (bagpipe.optimizer) or enable gradient"
          + " clipping", null);
    }
    return broken(leftRank, "got floats that are not finite (round " + r.round + ", step " + t + ", chunk " + c
        + ", element " + element + ") from its left neighbour, which had checked them itself: its data is corrupt or"
        + " it is not a Bagpipe rank", null);
  }

  /**
   * Whether {@code a[from..from+n)} holds no NaN and no infinity. Written, like the check
   * in {@link #add}, as an OR of comparisons without a branch or an early exit, which the
   * JIT vectorises: a float max-reduction or a search loop costs several times as much.
   */
  static boolean allFinite(float[] a, int from, int n) {
    int bad = 0;
    for (int i = from; i < from + n; i++) {
      bad |= Math.abs(a[i]) <= Float.MAX_VALUE ? 0 : 1;
    }
    return bad == 0;
  }

  private RingBrokenException nonFiniteGradient(long round, int element, float value) {
    return new RingBrokenException(generation, rank, addresses.get(rank),
        "rank " + rank + " of ring generation " + generation + " computed a gradient that is not finite in round "
            + round + " (element " + element + " is " + value + "): the step stops here; lower the learning rate"
            + " (bagpipe.optimizer) or enable gradient clipping", null);
  }

  /**
   * The index (from {@code from}) of the first NaN or infinity among {@code a[from..from+n)},
   * or -1: where a chunk that failed {@link #allFinite} or an adding loop's check
   * went wrong, so that the round stops with the rank it came from named.
   */
  static int firstNonFinite(float[] a, int from, int n) {
    for (int i = 0; i < n; i++) {
      if (!(Math.abs(a[from + i]) <= Float.MAX_VALUE)) {
        return i;
      }
    }
    return -1;
  }

  /**
   * Reduce-scatter: {@code out = own + received}; at the last step, where this rank
   * owns the segment, that sum divided by the total weight. Returns whether every sum is
   * finite (false when either addend is not, or the sum overflows).
   */
  private static boolean add(Round r, boolean finishes, int start, int len, float[] received) {
    float[] out = r.result;
    float[] g = r.gradient;
    int bad = 0; // checked in the adding loop, branch-free as in allFinite: nearly free there, a second pass is not
    if (!finishes) {
      for (int i = 0; i < len; i++) {
        float sum = g[start + i] + received[i];
        out[start + i] = sum;
        bad |= Math.abs(sum) <= Float.MAX_VALUE ? 0 : 1;
      }
    } else if (r.totalWeight == 0) {
      Arrays.fill(out, start, start + len, 0f);
      for (int i = 0; i < len; i++) {
        bad |= Math.abs(g[start + i] + received[i]) <= Float.MAX_VALUE ? 0 : 1;
      }
    } else {
      float inv = 1f / r.totalWeight;
      for (int i = 0; i < len; i++) {
        float sum = g[start + i] + received[i];
        out[start + i] = sum * inv;
        bad |= Math.abs(sum) <= Float.MAX_VALUE ? 0 : 1;
      }
    }
    return bad == 0;
  }

  /**
   * How this rank's frames travel: {@code "shared-memory"}, {@code "tcp"} or {@code "tcp+encrypted"}, to the right
   * neighbour then from the left one when they differ ({@code "tcp/shared-memory"});
   * null until connected.
   */
  public String transport() {
    Link.Outbound o = outbound;
    Link.Inbound i = inbound;
    if (o == null || i == null) {
      return null;
    }
    return o.transport().equals(i.transport()) ? o.transport() : o.transport() + "/" + i.transport();
  }

  // ---------------------------------------------------------------- completion and failure

  private void sideConnected() {
    if (sidesConnected.incrementAndGet() == 2) {
      lastProgressNanos = System.nanoTime();
      connected.complete(null);
    }
  }

  private void partDone(Round r) {
    if (r.parts.decrementAndGet() == 0) {
      inFlight.remove(r);
      lastProgressNanos = System.nanoTime();
      r.future.complete(new Reduced(r.round, r.result, r.totalWeight, r.totalHalt));
    }
  }

  private RingBrokenException broken(int peerRank, String what, Throwable cause) {
    InetSocketAddress peer = addresses.get(peerRank);
    String detail = cause == null || cause.getMessage() == null ? "" : ": " + cause.getMessage();
    // A connection that closed (not one that went quiet) may mean the peer died: its data
    // port then refuses at once, and the Coordinator need not wait for it to answer.
    boolean gone = cause instanceof IOException && DataPort.refuses(peer);
    return new RingBrokenException(generation, peerRank, peer, gone,
        "rank " + rank + " of ring generation " + generation + " " + what + ", rank " + peerRank + " at " + peer + detail
            + (gone ? " (its data port refuses connections: it is gone)" : ""),
        cause);
  }

  private void checkProgress() {
    if (failure.get() != null) {
      return;
    }
    boolean waiting = !connected.isDone() || !inFlight.isEmpty();
    long idle = System.nanoTime() - lastProgressNanos;
    if (!waiting || idle < settings.timeout().toNanos()) {
      return;
    }
    String after = " for " + settings.timeout() + " (bagpipe.allreduce.timeout)";
    if (!connected.isDone()) {
      boolean rightMissing = right == null || !right.isConnected() || sidesConnected.get() == 0;
      fail(left == null && !rightMissing
          ? broken(leftRank, "was not connected by its left neighbour" + after, null)
          : broken(rightRank, "could not connect to its right neighbour" + after, null), true);
    } else if (senderBlocked && !receiverReading) {
      fail(broken(rightRank, "could not hand frames to its right neighbour, which stopped taking them" + after, null),
          true);
    } else {
      Round r = inFlight.peek();
      fail(broken(leftRank, "got no data from its left neighbour" + after
          + (r == null ? "" : " in round " + r.round), null), true);
    }
  }

  /** Writes an abort frame with {@code e}'s message to the right neighbour; whether it went out. */
  private boolean tellRight(SocketChannel r, RingBrokenException e) {
    try {
      if (rightWrites.tryLock(200, TimeUnit.MILLISECONDS)) {
        try {
          Link.Outbound o = outbound;
          ByteBuffer b = o == null ? Frame.abort(e.getMessage()) : o.abortFrame(e.getMessage());
          while (b.hasRemaining()) {
            r.write(b);
          }
          return true;
        } finally {
          rightWrites.unlock();
        }
      }
    } catch (IOException ignored) {
      // the right neighbour will see the closed connection instead
    } catch (InterruptedException ignored) {
      Thread.currentThread().interrupt();
    }
    return false;
  }

  /**
   * Breaks the ring once: fails the pending rounds, tells the right neighbour why
   * (when that connection still works) and closes both connections.
   */
  private void fail(RingBrokenException e, boolean tellRight) {
    if (!failure.compareAndSet(null, e)) {
      return;
    }
    connected.completeExceptionally(e);
    for (Round r; (r = inFlight.poll()) != null; ) {
      r.future.completeExceptionally(e);
    }
    toSend.add(POISON);
    toReceive.add(POISON);
    lock.lock();
    try {
      progress.signalAll();
    } finally {
      lock.unlock();
    }
    SocketChannel r = right;
    Thread.ofVirtual().name("bagpipe-ring-abort").start(() -> {
      if (tellRight && outbound == null) {
        // Not connected to the right yet, or still in the handshake (where an abort frame
        // would be read as a nonce or a proof, and the neighbour would never learn why):
        // the sender tells that neighbour once the link is up (or gives up), and the left
        // connection stays open meanwhile so that the reason can come round to the left
        // neighbour before this side hangs up on it.
        WATCHDOG.schedule(this::closeChannels, 1, TimeUnit.SECONDS);
        return;
      }
      boolean told = false;
      if (tellRight && r != null && r.isConnected()) {
        WATCHDOG.schedule(this::closeChannels, 1, TimeUnit.SECONDS);
        told = tellRight(r, e);
      }
      if (told) {
        // The reason travels on around the ring; the left neighbour would otherwise
        // learn only "connection closed" from this side first, so its connection
        // closes a moment later.
        DataPort.closeQuietly(r);
        WATCHDOG.schedule(this::closeChannels, ABORT_GRACE_MILLIS, TimeUnit.MILLISECONDS);
      } else {
        closeChannels();
      }
    });
    if (watchdog != null) {
      watchdog.cancel(false);
    }
  }

  private void closeChannels() {
    DataPort.closeQuietly(right);
    DataPort.closeQuietly(left);
    port.forget(generation, leftRank);
  }

  /**
   * Leaves the ring: pending rounds fail, the neighbours' rounds fail naming this
   * rank, sockets and threads are released. The {@link DataPort} stays open.
   */
  @Override
  public void close() {
    if (world == 1) {
      return;
    }
    fail(new RingBrokenException(generation, -1, null,
        "rank " + rank + " at " + addresses.get(rank) + " closed its side of ring generation " + generation, null), true);
    try {
      sender.join(2000);
      receiver.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    closeChannels();
  }

  @Override
  public String toString() {
    return "RingAllReduce[generation " + generation + ", rank " + rank + " of " + world + "]";
  }
}
