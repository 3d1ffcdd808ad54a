package io.bagpipe.worker;

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

  Worker.StageNanos snapshot() {
    return new Worker.StageNanos(decodeWait, upload, forward, backward, allReduce, optimizer);
  }

  void reset() {
    decodeWait = upload = forward = backward = allReduce = optimizer = 0;
  }
}
