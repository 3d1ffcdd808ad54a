package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What {@link EventPublisher} promises beyond the TCK ({@code EventPublisherTckTest}): no
 * signal while {@code onSubscribe} runs, a bounded buffer per subscriber that drops the
 * oldest events and says how many, a bounded history for late subscribers, and demand
 * beyond {@link Long#MAX_VALUE} on a live run.
 */
class EventPublisherTest {

  private final ExecutorService executor = Executors.newFixedThreadPool(4);

  @AfterEach
  void shutDown() {
    executor.shutdownNow();
  }

  /** Collects signals; {@code request} is asked for in onSubscribe. */
  static class Collector implements Flow.Subscriber<RunEvent> {
    final long request;
    final List<RunEvent> events = new ArrayList<>();
    final CountDownLatch done = new CountDownLatch(1);
    final CountDownLatch subscribed = new CountDownLatch(1);
    final AtomicReference<Throwable> error = new AtomicReference<>();
    volatile Flow.Subscription subscription;
    volatile boolean completed;

    Collector(long request) {
      this.request = request;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      if (request > 0) {
        s.request(request);
      }
      subscribed.countDown();
    }

    /** Subscribes to {@code events} and waits for onSubscribe, which arrives on the executor. */
    Collector to(EventPublisher events) throws InterruptedException {
      events.subscribe(this);
      assertTrue(subscribed.await(10, TimeUnit.SECONDS), "onSubscribe");
      return this;
    }

    @Override
    public synchronized void onNext(RunEvent e) {
      events.add(e);
    }

    @Override
    public void onError(Throwable t) {
      error.set(t);
      done.countDown();
    }

    @Override
    public void onComplete() {
      completed = true;
      done.countDown();
    }

    synchronized List<RunEvent> events() {
      return List.copyOf(events);
    }
  }

  private static RunEvent joined(int i) {
    return new RunEvent.WorkerJoined(i, "cpu");
  }

  @Test
  void theBufferSettingNamesItsKeyWhenWrong() {
    assertEquals(1024, EventSettings.fromConfig(com.typesafe.config.ConfigFactory.load().getConfig("bagpipe.events")).buffer());
    for (String bad : List.of("buffer = 0", "buffer = many", "buffer = 2.5")) {
      RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
          () -> EventSettings.fromConfig(com.typesafe.config.ConfigFactory.parseString(bad)));
      assertTrue(e.getMessage().contains("bagpipe.events.buffer"), bad + ": " + e.getMessage());
    }
  }

  @Test
  void noEventArrivesBeforeOnSubscribeHasReturned() throws Exception {
    EventPublisher events = new EventPublisher(executor, 16);
    for (int i = 0; i < 5; i++) {
      events.publish(joined(i));
    }
    List<String> order = new ArrayList<>();
    CountDownLatch received = new CountDownLatch(5);
    events.subscribe(new Flow.Subscriber<>() {
      @Override
      public void onSubscribe(Flow.Subscription s) {
        s.request(Long.MAX_VALUE);
        events.publish(joined(99)); // a live event while onSubscribe still runs
        try {
          Thread.sleep(200); // the history and that event are deliverable now; none may arrive yet
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        synchronized (order) {
          order.add("onSubscribe returns");
        }
      }

      @Override
      public void onNext(RunEvent e) {
        synchronized (order) {
          order.add("onNext");
        }
        received.countDown();
      }

      @Override
      public void onError(Throwable t) {}

      @Override
      public void onComplete() {}
    });
    assertTrue(received.await(10, TimeUnit.SECONDS));
    synchronized (order) {
      assertEquals("onSubscribe returns", order.getFirst(), order.toString());
    }
  }

  @Test
  void aSubscriberThatFallsBehindLosesTheOldestEventsAndIsToldHowMany() throws Exception {
    EventPublisher events = new EventPublisher(executor, 8);
    Collector slow = new Collector(0).to(events);
    for (int i = 0; i < 20; i++) {
      events.publish(joined(i));
    }
    events.publish(new RunEvent.RunFailed("boom"));
    events.complete();
    slow.subscription.request(Long.MAX_VALUE);
    assertTrue(slow.done.await(10, TimeUnit.SECONDS));
    List<RunEvent> got = slow.events();
    // 21 published, 8 kept: the 13 oldest dropped, the last event kept.
    assertEquals(new RunEvent.EventsDropped(13), got.getFirst());
    assertEquals(9, got.size(), got.toString());
    assertEquals(joined(13), got.get(1));
    assertEquals(new RunEvent.RunFailed("boom"), got.getLast());
    assertTrue(slow.completed);
  }

  @Test
  void aFullBufferDropsSupersededStepsBeforeOtherEvents() throws Exception {
    EventPublisher events = new EventPublisher(executor, 4);
    Collector slow = new Collector(0).to(events);
    RunEvent epoch = new RunEvent.EpochStarted(0, 1, 4, 0, 4);
    RunEvent validation = new RunEvent.ValidationStarted(0, 2);
    RunEvent failed = new RunEvent.RunFailed("boom");
    events.publish(epoch);
    for (int s = 1; s <= 3; s++) {
      events.publish(new RunEvent.StepCompleted(0, s, 4, 0.5, 1.0, s));
    }
    events.publish(validation); // full: step 1 goes
    events.publish(new RunEvent.StepCompleted(0, 4, 4, 0.5, 1.0, 4)); // step 2 goes
    events.publish(failed); // step 3 goes; step 4 is the newest and stays
    events.complete();
    slow.subscription.request(Long.MAX_VALUE);
    assertTrue(slow.done.await(10, TimeUnit.SECONDS));
    assertEquals(List.of(new RunEvent.EventsDropped(3), epoch, validation, new RunEvent.StepCompleted(0, 4, 4, 0.5, 1.0, 4),
        failed), slow.events());
  }

  @Test
  void aLateSubscriberGetsTheNewestHistoryWithSupersededStepsLeftOut() throws Exception {
    EventPublisher events = new EventPublisher(executor, 4);
    events.publish(new RunEvent.RunStarted("run", 1, 2, 0, 0, 3, 1));
    for (int s = 1; s <= 3; s++) {
      events.publish(new RunEvent.StepCompleted(0, s, 3, 0.5, 1.0, s));
    }
    Collector early = new Collector(Long.MAX_VALUE).to(events);
    events.complete();
    assertTrue(early.done.await(10, TimeUnit.SECONDS));
    assertEquals(List.of(new RunEvent.RunStarted("run", 1, 2, 0, 0, 3, 1), new RunEvent.StepCompleted(0, 3, 3, 0.5, 1.0, 3)),
        early.events(), "only the newest of consecutive steps is kept");

    EventPublisher longRun = new EventPublisher(executor, 4);
    for (int i = 0; i < 10; i++) {
      longRun.publish(joined(i));
    }
    longRun.complete();
    Collector late = new Collector(Long.MAX_VALUE).to(longRun);
    assertTrue(late.done.await(10, TimeUnit.SECONDS));
    assertEquals(List.of(new RunEvent.EventsDropped(6), joined(6), joined(7), joined(8), joined(9)), late.events());
  }

  @Test
  void aNonPositiveRequestEndsTheSubscriptionWithIllegalArgumentException() throws Exception {
    EventPublisher events = new EventPublisher(executor, 8);
    events.publish(joined(0));
    Collector c = new Collector(0).to(events);
    c.subscription.request(0);
    assertTrue(c.done.await(10, TimeUnit.SECONDS));
    IllegalArgumentException e = assertInstanceOf(IllegalArgumentException.class, c.error.get());
    assertTrue(e.getMessage().contains("3.9"), e.getMessage());
    c.subscription.request(5);
    events.publish(joined(1));
    Thread.sleep(100);
    assertTrue(c.events().isEmpty(), "nothing after onError");
    assertFalse(c.completed);
  }

  /**
   * Rule 3.17 on a live run, which the TCK's version needs 2^31 - 1 events for: demand
   * summed past {@link Long#MAX_VALUE} stays unbounded, with no onError.
   */
  @Test
  void demandBeyondLongMaxValueStaysUnboundedWithoutError() throws Exception {
    EventPublisher events = new EventPublisher(executor, 64);
    Collector c = new Collector(Long.MAX_VALUE - 1).to(events);
    for (int i = 0; i < 10; i++) {
      c.subscription.request(Long.MAX_VALUE - 1);
    }
    for (int i = 0; i < 50; i++) {
      events.publish(joined(i));
    }
    events.complete();
    assertTrue(c.done.await(10, TimeUnit.SECONDS));
    assertNull(c.error.get());
    assertEquals(50, c.events().size());
    assertTrue(c.completed);
  }

  @Test
  void aCancelledSubscriberIsForgottenAndGetsNothingMore() throws Exception {
    EventPublisher events = new EventPublisher(executor, 8);
    Collector c = new Collector(Long.MAX_VALUE).to(events);
    events.publish(joined(0));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (c.events().isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    c.subscription.cancel();
    events.publish(joined(1));
    events.complete();
    Thread.sleep(100);
    assertEquals(List.of(joined(0)), c.events());
    assertFalse(c.completed, "no onComplete after cancel");
  }
}
