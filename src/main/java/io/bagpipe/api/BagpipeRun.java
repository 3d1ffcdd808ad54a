package io.bagpipe.api;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * A running training run: observe its {@link #events()}, {@link #stop()} it
 * gracefully, and wait for its {@link #result()}.
 */
public final class BagpipeRun {

  private final EventPublisher events;
  private final CompletableFuture<RunResult> result;
  private final Runnable stop;
  private final String nodeAddress;
  private final CompletionStage<?> terminated;
  private final org.apache.pekko.actor.typed.ActorSystem<?> system;

  BagpipeRun(EventPublisher events, CompletableFuture<RunResult> result, Runnable stop, CompletionStage<?> terminated) {
    this(events, result, stop, null, terminated);
  }

  BagpipeRun(EventPublisher events, CompletableFuture<RunResult> result, Runnable stop, String nodeAddress,
      CompletionStage<?> terminated) {
    this(events, result, stop, nodeAddress, terminated, null);
  }

  BagpipeRun(EventPublisher events, CompletableFuture<RunResult> result, Runnable stop, String nodeAddress,
      CompletionStage<?> terminated, org.apache.pekko.actor.typed.ActorSystem<?> system) {
    this.events = events;
    this.result = result;
    this.stop = stop;
    this.nodeAddress = nodeAddress;
    this.terminated = terminated;
    this.system = system;
  }

  /** The node's own ActorSystem (cluster nodes only), for tests that reach into its transport. */
  org.apache.pekko.actor.typed.ActorSystem<?> system() {
    return system;
  }

  /**
   * Completes when everything the run started has stopped (for a standalone run
   * or a node, its ActorSystem has terminated), after {@link #result()}.
   */
  public CompletionStage<?> terminated() {
    return terminated;
  }

  /**
   * For a cluster node ({@link Bagpipe#startNode}), its {@code host:port}, to give
   * other nodes as a seed; empty for a single-node run.
   */
  public java.util.Optional<String> nodeAddress() {
    return java.util.Optional.ofNullable(nodeAddress);
  }

  /**
   * The run's events in order, as a Reactive Streams conformant publisher. A subscriber
   * gets the newest events so far first (so nothing is missed by subscribing after
   * {@link Bagpipe#start}), then live ones; the stream completes when the run ends.
   * The run never waits for a subscriber: one that falls more than
   * {@code bagpipe.events.buffer} events behind loses the oldest and is told how many
   * by a {@link RunEvent.EventsDropped}.
   */
  public Flow.Publisher<RunEvent> events() {
    return events;
  }

  /**
   * Completes with the result when the run ends (also after {@link #stop()}, with
   * {@link RunResult#stopped()} true), or exceptionally with a
   * {@link RunFailedException} saying why it failed.
   */
  public CompletionStage<RunResult> result() {
    return result.minimalCompletionStage();
  }

  /**
   * Asks the run to stop gracefully: every worker finishes the same step, a
   * checkpoint is written at that plan position (a later run with
   * {@code bagpipe.train.resume = true} continues from it), and the run completes.
   */
  public void stop() {
    stop.run();
  }
}
