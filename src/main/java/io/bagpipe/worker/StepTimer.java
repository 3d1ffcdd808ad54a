package io.bagpipe.worker;

import io.bagpipe.coordinator.Coordinator;

/** Nanoseconds a worker spent in each stage of the current step. */
final class StepTimer {
  long decodeWait;
  long upload;
  long forward;
  long backward;
  long allReduce;
  long optimizer;

  void add(Replica.BagOutcome out) {
    upload += out.uploadNanos();
    forward += out.forwardNanos();
    backward += out.backwardNanos();
  }

  Coordinator.StageNanos snapshot() {
    return new Coordinator.StageNanos(decodeWait, upload, forward, backward, allReduce, optimizer);
  }

  void reset() {
    decodeWait = upload = forward = backward = allReduce = optimizer = 0;
  }
}
