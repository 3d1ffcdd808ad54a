package io.bagpipe.api;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The run's events as a {@link Flow.Publisher} that conforms to Reactive Streams
 * (the TCK's {@code FlowPublisherVerification} runs against it in the tests).
 *
 * <p>The publisher is hot: the run publishes at its own pace and never waits for a
 * subscriber. Each subscriber has its own buffer of at most {@code capacity} events
 * ({@code bagpipe.events.buffer}) and its own demand. A subscriber that falls further
 * behind loses undelivered events, first {@link RunEvent.StepCompleted}s that a newer one
 * supersedes, else the oldest, and, before the next event it receives, gets one
 * {@link RunEvent.EventsDropped} with how many it lost; the run's memory stays bounded
 * whatever the subscriber does. The last event, {@code RunCompleted} or
 * {@code RunFailed}, is never the one dropped.
 *
 * <p>A subscriber that arrives late first gets the newest {@code capacity} events of
 * the run so far, of which consecutive {@link RunEvent.StepCompleted}s are kept as the
 * newest only (a {@code StepCompleted} carries the epoch's totals so far); older ones
 * are announced by an {@code EventsDropped}. Subscribing just after
 * {@link Bagpipe#start} therefore never misses {@link RunEvent.RunStarted}.
 *
 * <p>Signals: {@code onSubscribe} first, then every signal of one subscriber in
 * sequence on {@code executor}, never concurrently and never before
 * {@code onSubscribe} has returned (rules 1.3 and 1.9). Delivery runs in slices of
 * {@value #SLICE} signals, so subscribers sharing the executor take turns. Demand
 * adds up to {@link Long#MAX_VALUE} and stays there (3.17); {@code request(n)} with
 * {@code n <= 0} cancels and signals {@code onError(IllegalArgumentException)} (3.9);
 * after {@code cancel} the publisher drops its references to the subscriber (3.13).
 * A subscriber method that throws (breaking rule 2.13) cancels its subscription, and
 * the exception goes to the executor's thread.
 */
final class EventPublisher implements Flow.Publisher<RunEvent> {

  /** Signals one delivery task sends before it yields the executor to other subscribers. */
  static final int SLICE = 64;

  private final Executor executor;
  private final int capacity;
  private final ArrayDeque<RunEvent> history = new ArrayDeque<>();
  private long historyDropped;
  private final List<Subscription> subscriptions = new ArrayList<>();
  private boolean completed;

  /**
   * @param executor runs the deliveries to subscribers
   * @param capacity events kept for the history and for each subscriber (bagpipe.events.buffer)
   */
  EventPublisher(Executor executor, int capacity) {
    if (capacity < 1) {
      throw new IllegalArgumentException("bagpipe.events.buffer must be >= 1, got " + capacity);
    }
    this.executor = Objects.requireNonNull(executor, "executor");
    this.capacity = capacity;
  }

  /** Adds {@code e} to the history and to every subscriber's buffer; never blocks on a subscriber. */
  void publish(RunEvent e) {
    Objects.requireNonNull(e, "event");
    List<Subscription> targets;
    synchronized (this) {
      if (completed) {
        return;
      }
      if (e instanceof RunEvent.StepCompleted && history.peekLast() instanceof RunEvent.StepCompleted) {
        history.pollLast();
      } else if (history.size() == capacity) {
        history.pollFirst();
        historyDropped++;
      }
      history.addLast(e);
      // Under this lock, so that a subscriber arriving now gets e either from the history or here, once.
      for (Subscription s : subscriptions) {
        s.enqueue(e);
      }
      targets = List.copyOf(subscriptions);
    }
    for (Subscription s : targets) {
      s.drain();
    }
  }

  /** Ends the stream: every subscriber gets {@code onComplete} once it has received its buffered events. */
  void complete() {
    List<Subscription> targets;
    synchronized (this) {
      if (completed) {
        return;
      }
      completed = true;
      targets = List.copyOf(subscriptions);
      subscriptions.clear();
    }
    for (Subscription s : targets) {
      s.finish();
    }
  }

  @Override
  public void subscribe(Flow.Subscriber<? super RunEvent> subscriber) {
    Objects.requireNonNull(subscriber, "subscriber (Reactive Streams rule 1.9)");
    Subscription s = new Subscription(subscriber);
    synchronized (this) {
      s.start(history, historyDropped, completed);
      if (!completed) {
        subscriptions.add(s);
      }
    }
    s.drain(); // the first delivery task calls onSubscribe
  }

  private synchronized void remove(Subscription s) {
    subscriptions.remove(s);
  }

  /**
   * One subscriber's buffer, demand and serial delivery. {@link #drain} counts requests
   * for work in {@code wip}; only the task that raised it from zero runs, and it loops
   * until it has seen every request, so signals never overlap.
   */
  private final class Subscription implements Flow.Subscription, Runnable {
    /** Cleared when the subscription ends, so the publisher holds no reference to it (rule 3.13). */
    private Flow.Subscriber<? super RunEvent> subscriber;
    private boolean subscribed; // touched by the delivery task only

    // guarded by this
    private final ArrayDeque<RunEvent> queue = new ArrayDeque<>();
    private int steps; // StepCompleted events in queue
    private long dropped;
    private boolean done;

    private final AtomicLong demand = new AtomicLong();
    private final AtomicInteger wip = new AtomicInteger();
    private volatile boolean cancelled;
    private volatile IllegalArgumentException badRequest;

    Subscription(Flow.Subscriber<? super RunEvent> subscriber) {
      this.subscriber = subscriber;
    }

    synchronized void start(ArrayDeque<RunEvent> history, long historyDropped, boolean completed) {
      for (RunEvent e : history) {
        add(e);
      }
      dropped = historyDropped;
      done = completed;
    }

    /**
     * Adds {@code e}; when the buffer is full, drops the oldest {@code StepCompleted} that a
     * newer one supersedes (each carries its epoch's totals so far), else the oldest event.
     */
    synchronized void enqueue(RunEvent e) {
      if (queue.size() == capacity) {
        if (steps > 1 || (steps == 1 && e instanceof RunEvent.StepCompleted)) {
          for (var it = queue.iterator(); ; ) {
            if (it.next() instanceof RunEvent.StepCompleted) {
              it.remove(); // the oldest step; a newer one is queued or arriving
              steps--;
              break;
            }
          }
        } else if (queue.pollFirst() instanceof RunEvent.StepCompleted) {
          steps--;
        }
        dropped++;
      }
      add(e);
    }

    private void add(RunEvent e) {
      queue.addLast(e);
      if (e instanceof RunEvent.StepCompleted) {
        steps++;
      }
    }

    private RunEvent poll() {
      RunEvent e = queue.pollFirst();
      if (e instanceof RunEvent.StepCompleted) {
        steps--;
      }
      return e;
    }

    void finish() {
      synchronized (this) {
        done = true;
      }
      drain();
    }

    @Override
    public void request(long n) {
      if (n <= 0) {
        if (badRequest == null) {
          badRequest = new IllegalArgumentException("non-positive subscription request: request(" + n
              + ") must ask for at least one event (Reactive Streams rule 3.9)");
        }
      } else {
        demand.getAndAccumulate(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
      }
      drain();
    }

    @Override
    public void cancel() {
      if (!cancelled) {
        cancelled = true;
        remove(this);
        drain(); // the delivery task lets go of the subscriber and the buffer
      }
    }

    void drain() {
      if (wip.getAndIncrement() == 0) {
        executor.execute(this);
      }
    }

    /** The delivery task: at most {@link #SLICE} signals, then it hands the executor back and queues itself again. */
    @Override
    public void run() {
      int missed = 1;
      int sent = 0;
      try {
        if (!subscribed) {
          subscribed = true;
          subscriber.onSubscribe(this);
        }
        for (;;) {
          while (subscriber != null) {
            if (cancelled) {
              release();
              break;
            }
            IllegalArgumentException bad = badRequest;
            if (bad != null) {
              cancelled = true;
              remove(this);
              Flow.Subscriber<? super RunEvent> s = subscriber;
              release();
              s.onError(bad);
              break;
            }
            if (sent == SLICE) {
              executor.execute(this); // wip stays above zero, so no other task starts meanwhile
              return;
            }
            RunEvent next = null;
            boolean complete = false;
            synchronized (this) {
              if (demand.get() > 0) {
                if (dropped > 0) {
                  next = new RunEvent.EventsDropped(dropped);
                  dropped = 0;
                } else {
                  next = poll();
                }
              }
              if (next == null && done && queue.isEmpty() && dropped == 0) {
                complete = true;
              }
            }
            if (complete) {
              Flow.Subscriber<? super RunEvent> s = subscriber;
              release();
              s.onComplete();
              break;
            }
            if (next == null) {
              break;
            }
            demand.getAndUpdate(d -> d == Long.MAX_VALUE ? d : d - 1); // Long.MAX_VALUE: unbounded (rule 3.17)
            sent++;
            subscriber.onNext(next);
          }
          missed = wip.addAndGet(-missed);
          if (missed == 0) {
            return;
          }
        }
      } catch (Throwable t) { // the subscriber broke rule 2.13; it gets nothing more
        cancelled = true;
        remove(this);
        release();
        throw t;
      }
    }

    private void release() {
      subscriber = null;
      synchronized (this) {
        queue.clear();
        steps = 0;
        dropped = 0;
      }
    }
  }
}
