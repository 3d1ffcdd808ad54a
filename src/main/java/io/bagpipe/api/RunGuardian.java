package io.bagpipe.api;

import java.util.List;
import io.bagpipe.coordinator.Coordinator;
import io.bagpipe.loader.BagBuffers;
import io.bagpipe.loader.LoaderMeter;
import io.bagpipe.loader.LoaderPool;
import io.bagpipe.metrics.MetricsEndpoint;
import io.bagpipe.metrics.NodeMetrics;
import io.bagpipe.serialization.NodeLocal;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.worker.Worker;
import io.bagpipe.worker.WorkerMeter;
import java.io.UncheckedIOException;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The root of one run on one node: spawns the node's loaders, one worker per
 * device (each on its own thread, found by the Coordinator through the
 * Receptionist), an in-process ring and the Coordinator, and relays the Coordinator's events to the run's
 * publisher and result. Stops itself (and with it the run's actors) when the run
 * ends; closes the slide pool on the way out.
 *
 * <p>With {@code bagpipe.metrics.enabled} it serves the node's Prometheus endpoint
 * ({@link MetricsEndpoint}) for as long as it runs: the run's events and the counters
 * of this node's loader pool and workers.
 */
final class RunGuardian {

  private RunGuardian() {}

  /** Messages of the guardian; local to the embedding JVM. */
  sealed interface Command extends NodeLocal permits Published, StopRun {}

  /** An event from the Coordinator. */
  record Published(RunEvent event) implements Command {}

  /** The user asked to stop. */
  enum StopRun implements Command {
    INSTANCE
  }

  /** Slide id to this node's slide (or feature) file, from this node's manifest: where its loaders read. */
  private static java.util.Map<String, String> localSlides(RunSpec spec) {
    java.util.Map<String, String> m = new java.util.HashMap<>();
    for (io.bagpipe.bag.SlideEntry e : spec.data().manifest().slides()) {
      m.put(e.slideId(), e.slide().toString());
    }
    return m;
  }

  static Behavior<Command> create(RunSpec spec, Topology topology, EventPublisher publisher,
      CompletableFuture<RunResult> result) {
    return Behaviors.setup(
        ctx -> {
          org.apache.pekko.actor.Address address = ctx.getSystem().address();
          String node = address.getHost().isPresent() ? address.getHost().get() + ":" + address.getPort().orElse(0)
              : "local";
          String runId = spec.metricsEndpoint().runId().isEmpty()
              ? String.valueOf(spec.train().runDir().toAbsolutePath().normalize().getFileName())
              : spec.metricsEndpoint().runId();
          NodeMetrics metrics = new NodeMetrics(runId, node);
          MetricsEndpoint endpoint = null;
          if (spec.metricsEndpoint().enabled()) {
            try {
              endpoint = MetricsEndpoint.start(spec.metricsEndpoint(), metrics, spec.train().runDir(),
                  address.getHost().orElse(null));
            } catch (UncheckedIOException e) {
              publisher.publish(new RunEvent.RunFailed(e.getMessage()));
              publisher.complete();
              result.completeExceptionally(new RunFailedException(e.getMessage(), e));
              return Behaviors.stopped();
            }
            ctx.getLog().info("metrics at {}", endpoint.url());
          }
          MetricsEndpoint served = endpoint;
          SlidePool slides = new SlidePool(spec.slide());
          BagBuffers buffers = new BagBuffers(spec.loader().idleBuffers());
          LoaderMeter loaderMeter = new LoaderMeter();
          metrics.watch(loaderMeter);
          ActorRef<LoaderPool.Command> loaders =
              ctx.spawn(LoaderPool.create(LoaderPool.Setup.of(spec.loader(), slides, buffers)
                  .withMeter(loaderMeter).withLocalSlides(localSlides(spec))), "loader-pool");
          ActorRef<RunEvent> events = ctx.messageAdapter(RunEvent.class, Published::new);
          ActorRef<Coordinator.Command> coordinator = topology.coordinator(ctx, spec, events);
          List<String> devices = spec.worker().devices();
          for (int i = 0; i < devices.size(); i++) {
            String device = devices.get(i);
            WorkerMeter workerMeter = new WorkerMeter();
            metrics.watch("worker-" + i, device, workerMeter);
            ctx.spawn(
                Worker.create(new Worker.Setup(device, () -> spec.replicas().create(device), topology.ring(i), loaders,
                    spec.loader().prefetchBags(), spec.checkpointDir(), spec.checkpoint().keepLast(), spec.workersKey(),
                    workerMeter, spec.seal())),
                "worker-" + i,
                DispatcherSelector.fromConfig("bagpipe.worker.dispatcher"));
          }
          return Behaviors.receive(Command.class)
              .onMessage(Published.class, m -> {
                EventMetrics.record(metrics, m.event());
                if (served != null && (m.event() instanceof RunEvent.RunCompleted || m.event() instanceof RunEvent.RunFailed)) {
                  served.close(); // before the result completes: a finished run lists no endpoint
                }
                publisher.publish(m.event());
                return switch (m.event()) {
                  case RunEvent.RunCompleted c -> {
                    result.complete(c.result());
                    yield Behaviors.stopped();
                  }
                  case RunEvent.RunFailed f -> {
                    result.completeExceptionally(new RunFailedException(f.reason()));
                    yield Behaviors.stopped();
                  }
                  default -> Behaviors.same();
                };
              })
              .onMessageEquals(StopRun.INSTANCE, () -> {
                coordinator.tell(Coordinator.Stop.INSTANCE);
                return Behaviors.same();
              })
              .onSignal(Terminated.class, t -> {
                if (!result.isDone()) {
                  String reason = "the run's coordinator stopped unexpectedly; see the log above";
                  publisher.publish(new RunEvent.RunFailed(reason));
                  result.completeExceptionally(new RunFailedException(reason));
                }
                return Behaviors.stopped();
              })
              .onSignal(PostStop.class, s -> {
                slides.close();
                if (served != null) {
                  served.close();
                }
                if (!result.isDone()) { // the system is going down under the run, e.g. the node was downed
                  String reason = topology.stoppedEarly(ctx.getSystem());
                  publisher.publish(new RunEvent.RunFailed(reason));
                  result.completeExceptionally(new RunFailedException(reason));
                }
                publisher.complete();
                return Behaviors.same();
              })
              .build();
        });
  }
}
