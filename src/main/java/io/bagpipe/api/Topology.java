package io.bagpipe.api;

import io.bagpipe.allreduce.AllReduceFactory;
import io.bagpipe.allreduce.LocalRing;
import io.bagpipe.coordinator.Coordinator;
import java.util.function.IntFunction;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.SingletonActor;

/**
 * Where a run's pieces live. On one node the Coordinator is a child of the run's
 * guardian and the workers share an in-process ring. In a cluster the Coordinator
 * is a Cluster Singleton (it moves when its node dies), its events reach every
 * node through a pub-sub topic, and workers all-reduce over a ring with the
 * workers of the other processes.
 */
sealed interface Topology {

  /** The all-reduce factory of this node's {@code index}-th worker. */
  AllReduceFactory ring(int index);

  /**
   * Starts (or joins) the run's Coordinator and routes its events to
   * {@code events} on this node; returns where to send it commands.
   */
  ActorRef<Coordinator.Command> coordinator(ActorContext<?> ctx, RunSpec spec, ActorRef<RunEvent> events);

  /** Why this node's run actors stopped before the run ended, for the run's failure. */
  String stoppedEarly(ActorSystem<?> system);

  /** One JVM. */
  record Local(LocalRing ring) implements Topology {
    Local() {
      this(new LocalRing());
    }

    @Override
    public AllReduceFactory ring(int index) {
      return ring.worker();
    }

    @Override
    public String stoppedEarly(ActorSystem<?> system) {
      return "the run's actor system stopped before the run ended; the run can resume from its newest checkpoint"
          + " (bagpipe.train.resume = true)";
    }

    @Override
    public ActorRef<Coordinator.Command> coordinator(ActorContext<?> ctx, RunSpec spec, ActorRef<RunEvent> events) {
      ActorRef<Coordinator.Command> c = ctx.spawn(Coordinator.create(spec.coordinatorSetup(events)), "coordinator");
      ctx.watch(c);
      return c;
    }
  }

  /**
   * A node of a Pekko cluster; {@code rings} makes each worker's TCP ring endpoint;
   * {@code up} becomes true once this node is an Up member.
   */
  record Cluster(IntFunction<AllReduceFactory> rings, java.util.concurrent.atomic.AtomicBoolean up) implements Topology {
    @Override
    public AllReduceFactory ring(int index) {
      return rings.apply(index);
    }

    @Override
    public String stoppedEarly(ActorSystem<?> system) {
      org.apache.pekko.cluster.typed.Cluster cluster = org.apache.pekko.cluster.typed.Cluster.get(system);
      org.apache.pekko.cluster.MemberStatus status = cluster.selfMember().status();
      String self = cluster.selfMember().address().toString();
      String why = !up.get()
          ? "this node (" + self + ") never joined the cluster: no seed node (bagpipe.cluster.seed-nodes) let it in"
              + " within bagpipe.cluster.join-timeout. Is the run still going, and are the seed nodes reachable?"
          : status == org.apache.pekko.cluster.MemberStatus.down()
          || status == org.apache.pekko.cluster.MemberStatus.removed()
          ? "this node (" + self + ") was downed and removed from the cluster before the run ended (the split-brain"
              + " resolver does that when a node loses contact with the side that holds the Coordinator)"
          : "this node (" + self + ") stopped before the run ended (status " + status + ")";
      return why + "; the run can resume from its newest checkpoint (bagpipe.train.resume = true)";
    }

    @Override
    public ActorRef<Coordinator.Command> coordinator(ActorContext<?> ctx, RunSpec spec, ActorRef<RunEvent> events) {
      String name = spec.workersKey().id().replaceAll("[^A-Za-z0-9_-]", "_");
      ActorRef<Topic.Command<RunEvent>> topic = ctx.spawn(Topic.create(RunEvent.class, "events-" + name), "events");
      topic.tell(Topic.subscribe(events));
      ActorRef<RunEvent> publish = ctx.spawn(publisher(topic), "publish-events");
      return ClusterSingleton.get(ctx.getSystem())
          .init(SingletonActor.of(Coordinator.create(spec.coordinatorSetup(publish)), "coordinator-" + name));
    }

    private static Behavior<RunEvent> publisher(ActorRef<Topic.Command<RunEvent>> topic) {
      return Behaviors.receive(RunEvent.class).onAnyMessage(e -> {
        topic.tell(Topic.publish(e));
        return Behaviors.same();
      }).build();
    }
  }
}
