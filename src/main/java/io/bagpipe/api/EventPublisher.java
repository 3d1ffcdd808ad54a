package io.bagpipe.api;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.Executor;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The run's events as a {@link Flow.Publisher}. A subscriber that arrives late
 * first receives the run's history (every event but superseded
 * {@link RunEvent.StepCompleted}s, of which only the newest is kept), then the live
 * events, so subscribing just after {@link Bagpipe#start} never misses
 * {@link RunEvent.RunStarted}. Each subscriber is served in order on
 * {@code executor} with its own demand; a slow subscriber never slows the run.
 */
final class EventPublisher implements Flow.Publisher<RunEvent> {

  private final Executor executor;
  private final List<RunEvent> history = new ArrayList<>();
  private final List<Subscription> subscriptions = new ArrayList<>();
  private boolean completed;

  EventPublisher(Executor executor) {
    this.executor = executor;
  }

  void publish(RunEvent e) {
    List<Subscription> targets;
    synchronized (this) {
      if (completed) {
        return;
      }
      if (e instanceof RunEvent.StepCompleted && !history.isEmpty() && history.getLast() instanceof RunEvent.StepCompleted) {
        history.set(history.size() - 1, e);
      } else {
        history.add(e);
      }
      targets = List.copyOf(subscriptions);
    }
    for (Subscription s : targets) {
      s.offer(e);
    }
  }

  void complete() {
    List<Subscription> targets;
    synchronized (this) {
      completed = true;
      targets = List.copyOf(subscriptions);
    }
    for (Subscription s : targets) {
      s.finish();
    }
  }

  @Override
  public void subscribe(Flow.Subscriber<? super RunEvent> subscriber) {
    Subscription s = new Subscription(subscriber);
    synchronized (this) {
      for (RunEvent e : history) {
        s.queue.add(e);
      }
      if (completed) {
        s.done = true;
      } else {
        subscriptions.add(s);
      }
    }
    subscriber.onSubscribe(s);
    s.drain();
  }

  private final class Subscription implements Flow.Subscription {
    final Flow.Subscriber<? super RunEvent> subscriber;
    final Queue<RunEvent> queue = new ArrayDeque<>();
    final AtomicLong demand = new AtomicLong();
    final AtomicInteger wip = new AtomicInteger();
    volatile boolean done;
    volatile boolean cancelled;
    boolean terminated;

    Subscription(Flow.Subscriber<? super RunEvent> subscriber) {
      this.subscriber = subscriber;
    }

    void offer(RunEvent e) {
      synchronized (queue) {
        queue.add(e);
      }
      drain();
    }

    void finish() {
      done = true;
      drain();
    }

    @Override
    public void request(long n) {
      if (n <= 0) {
        cancel();
        executor.execute(() -> subscriber.onError(new IllegalArgumentException("request must be positive, got " + n)));
        return;
      }
      demand.getAndAccumulate(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
      drain();
    }

    @Override
    public void cancel() {
      cancelled = true;
      synchronized (EventPublisher.this) {
        subscriptions.remove(this);
      }
    }

    /** Serialised delivery: only one drain loop runs at a time per subscriber. */
    void drain() {
      if (wip.getAndIncrement() == 0) {
        executor.execute(this::loop);
      }
    }

    private void loop() {
      int missed = 1;
      do {
        while (!cancelled && !terminated) {
          RunEvent e;
          synchronized (queue) {
            e = demand.get() > 0 ? queue.poll() : null;
            if (e == null && queue.isEmpty() && done) {
              terminated = true;
            }
          }
          if (terminated) {
            subscriber.onComplete();
            break;
          }
          if (e == null) {
            break;
          }
          demand.decrementAndGet();
          subscriber.onNext(e);
        }
        missed = wip.addAndGet(-missed);
      } while (missed != 0);
    }
  }
}
