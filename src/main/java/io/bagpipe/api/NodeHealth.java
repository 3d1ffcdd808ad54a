package io.bagpipe.api;

import io.bagpipe.worker.Worker;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * What a node's health checks look at: the run's worker key and how many workers this
 * node starts. {@link Bagpipe#startNode} fills it in; Pekko Management calls
 * {@link Readiness} on {@code /ready} and {@link Liveness} on {@code /alive} (it builds them
 * from the class names in {@code pekko.management.health-checks}, with the node's system).
 */
public final class NodeHealth implements Extension {

  private static final Id ID = new Id();

  private volatile ServiceKey<Worker.Command> workers;
  private volatile int expected;

  private NodeHealth() {}

  /** This system's health state. */
  public static NodeHealth get(ActorSystem<?> system) {
    return ID.apply(system);
  }

  /** The node's {@code devices} workers register under {@code key}; until this is called the node is not ready. */
  void expect(ServiceKey<Worker.Command> key, int devices) {
    this.expected = devices;
    this.workers = key;
  }

  /**
   * True when this node is {@code Up} in the cluster and the Receptionist lists all of its
   * workers under the run's key (so the Coordinator, wherever it runs, can find them).
   */
  CompletionStage<Boolean> ready(ActorSystem<?> system, Duration timeout) {
    ServiceKey<Worker.Command> key = workers;
    if (key == null || Cluster.get(system).selfMember().status() != MemberStatus.up()) {
      return CompletableFuture.completedFuture(false);
    }
    int want = expected;
    CompletionStage<Receptionist.Listing> listing = AskPattern.ask(system.receptionist(),
        (org.apache.pekko.actor.typed.ActorRef<Receptionist.Listing> replyTo) -> Receptionist.find(key, replyTo),
        timeout, system.scheduler());
    return listing.thenApply(l -> l.getServiceInstances(key).stream()
        .filter(ref -> ref.path().address().hasLocalScope()).count() >= want);
  }

  private static final class Id extends ExtensionId<NodeHealth> {
    @Override
    public NodeHealth createExtension(ActorSystem<?> system) {
      return new NodeHealth();
    }
  }

  /** Readiness check ({@code /ready}): the node is Up and all its workers are registered. */
  public static final class Readiness implements Supplier<CompletionStage<Boolean>> {
    private final ActorSystem<?> system;

    /** Built by Pekko Management with the node's (classic) system. */
    public Readiness(org.apache.pekko.actor.ActorSystem system) {
      this.system = Adapter.toTyped(system);
    }

    @Override
    public CompletionStage<Boolean> get() {
      return NodeHealth.get(system).ready(system, Duration.ofMillis(500));
    }
  }

  /**
   * Liveness check ({@code /alive}): the actor system has not terminated and its default
   * dispatcher runs a task (a node whose dispatcher is starved or dead fails the check's timeout).
   */
  public static final class Liveness implements Supplier<CompletionStage<Boolean>> {
    private final ActorSystem<?> system;

    /** Built by Pekko Management with the node's (classic) system. */
    public Liveness(org.apache.pekko.actor.ActorSystem system) {
      this.system = Adapter.toTyped(system);
    }

    @Override
    public CompletionStage<Boolean> get() {
      if (system.getWhenTerminated().toCompletableFuture().isDone()) {
        return CompletableFuture.completedFuture(false);
      }
      return CompletableFuture.supplyAsync(() -> true, system.executionContext());
    }
  }
}
