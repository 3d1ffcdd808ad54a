package io.bagpipe.api;

import java.util.concurrent.Flow;
import java.util.concurrent.ForkJoinPool;
import org.reactivestreams.tck.TestEnvironment;
import org.reactivestreams.tck.flow.FlowPublisherVerification;

/**
 * The Reactive Streams TCK (a TestNG class, run on the JUnit Platform by the TestNG
 * engine) against the run's {@link EventPublisher}, on the executor runs use.
 *
 * <p>{@code createFlowPublisher(n)} is a run that publishes {@code n} events from its own
 * thread and then ends, as the Coordinator does: subscribers meet it at any point, take
 * what has passed from the history and the rest live. With {@code n} at most the buffer,
 * nothing is dropped, so every subscriber must get exactly {@code n} events and
 * {@code onComplete}. Skipped, and why (docs/embedding.md): the rules the TCK itself
 * leaves untested; a failed publisher (a failed run ends with a {@code RunFailed} event
 * and {@code onComplete}, never {@code onError}); and rule 3.17's publisher of
 * {@link Integer#MAX_VALUE} events, more than the buffer: {@code EventPublisherTest}
 * covers that rule with a live publisher.
 */
public class EventPublisherTckTest extends FlowPublisherVerification<RunEvent> {

  static final int BUFFER = 1024;

  public EventPublisherTckTest() {
    // Generous timeouts: the machine running the tests may be busy; signals never due wait 200 ms.
    super(new TestEnvironment(1_000, 200), 500);
  }

  @Override
  public Flow.Publisher<RunEvent> createFlowPublisher(long elements) {
    EventPublisher events = new EventPublisher(ForkJoinPool.commonPool(), BUFFER);
    Thread.ofPlatform().daemon().name("tck-run-" + elements).start(() -> {
      for (long i = 0; i < elements; i++) {
        events.publish(new RunEvent.WorkerJoined((int) i, "cpu"));
      }
      events.complete();
    });
    return events;
  }

  @Override
  public Flow.Publisher<RunEvent> createFailedFlowPublisher() {
    return null; // a run's publisher has no failed state: a failed run sends RunFailed, then onComplete
  }

  @Override
  public long maxElementsFromPublisher() {
    return BUFFER;
  }
}
