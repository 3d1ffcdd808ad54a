package io.bagpipe.api;

import io.bagpipe.coordinator.EpochRecord;
import io.bagpipe.metrics.NodeMetrics;

/** Records what a run's events say in a node's {@link NodeMetrics}; every node receives every event. */
final class EventMetrics {

  private EventMetrics() {}

  static void record(NodeMetrics metrics, RunEvent event) {
    switch (event) {
      case RunEvent.RunStarted s -> metrics.runStarted(s.workers(), s.epochs(), s.startEpoch());
      case RunEvent.WorkerJoined _ -> metrics.workerJoined();
      case RunEvent.WorkerLeft _ -> metrics.workerLost();
      case RunEvent.RingReformed r -> metrics.ringReformed(r.generation(), r.workers());
      case RunEvent.EpochStarted s -> metrics.epochStarted(s.epoch(), s.epochs(), s.steps(), s.firstStep());
      case RunEvent.StepCompleted s ->
          metrics.stepCommitted(s.epoch(), s.step(), s.steps(), s.meanLoss(), s.bagsPerSecond(), s.bagsDone());
      case RunEvent.ValidationStarted v -> metrics.validationStarted(v.epoch(), v.bags());
      case RunEvent.BagSkipped _ -> metrics.bagSkipped();
      case RunEvent.SlideQuarantined _ -> metrics.slideQuarantined();
      case RunEvent.EpochCompleted c -> {
        EpochRecord r = c.record();
        metrics.epochCompleted(r.trainLoss(), r.valLoss(), r.accuracy(), r.auc());
      }
      case RunEvent.RunCompleted _ -> metrics.runEnded();
      case RunEvent.RunFailed _ -> metrics.runEnded();
      case RunEvent.RunPaused _, RunEvent.TestScored _, RunEvent.CheckpointSaved _,
          RunEvent.CheckpointFailed _, RunEvent.EarlyStopped _, RunEvent.EventsDropped _ -> { }
    }
  }
}
