package io.bagpipe.api;

import io.bagpipe.bag.DataSet;
import io.bagpipe.bag.PlanSettings;
import io.bagpipe.checkpoint.BestMode;
import io.bagpipe.checkpoint.CheckpointSettings;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.coordinator.Coordinator;
import io.bagpipe.coordinator.ElasticSettings;
import io.bagpipe.coordinator.MetricsLog;
import io.bagpipe.coordinator.Quarantine;
import io.bagpipe.coordinator.TrainSettings;
import io.bagpipe.loader.LoaderSettings;
import io.bagpipe.metrics.MetricsSettings;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.worker.ReplicaFactory;
import io.bagpipe.worker.WorkerSettings;
import java.nio.file.Path;
import io.bagpipe.worker.Worker;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/** Everything one run needs, validated before any actor starts. */
record RunSpec(SlideSettings slide, LoaderSettings loader, WorkerSettings worker, TrainSettings train,
    ElasticSettings elastic, PlanSettings plan, CheckpointSettings checkpoint, DataSet data, int classes, RunState start,
    ReplicaFactory replicas, MetricsLog metrics, java.util.function.LongToDoubleFunction learningRate,
    MetricsSettings metricsEndpoint, io.bagpipe.worker.IssuerSeal seal) {

  Path checkpointDir() {
    return train.runDir().resolve(checkpoint.dir());
  }

  Coordinator.Setup coordinatorSetup(ActorRef<RunEvent> events) {
    return new Coordinator.Setup(train, plan, elastic, data, classes, start, checkpoint.bestMode() == BestMode.MAX,
        loader.prefetchBags(), checkpoint, metrics,
        new MetricsLog(train.runDir().resolve("faults.jsonl")), new Quarantine(train.runDir()), events, workersKey(), this::newestCheckpoint, learningRate, seal);
  }

  /** The run state of the newest good checkpoint in the run directory, if any. */
  java.util.Optional<RunState> newestCheckpoint() {
    try {
      return io.bagpipe.checkpoint.CheckpointStore.open(checkpoint, train.runDir()).loadLatest()
          .map(io.bagpipe.checkpoint.Checkpoint::state);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot read checkpoints in " + checkpointDir(), e);
    }
  }

  /** The run's workers register under this key; it names the run directory, the same on every node. */
  ServiceKey<Worker.Command> workersKey() {
    return ServiceKey.create(Worker.Command.class, "bagpipe-workers:" + train.runDir());
  }
}
