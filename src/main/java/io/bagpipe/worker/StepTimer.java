package io.bagpipe.worker;

import io.bagpipe.loader.DecodedBag;

/** Nanoseconds a worker spent in each stage of the current step, and what the loaders did for its bags. */
final class StepTimer {
  long decodeWait;
  long upload;
  long forward;
  long backward;
  long allReduce;
  long optimizer;
  long decode;
  long cacheHits;
  long cacheMisses;
  long cacheBytes;

  void add(Replica.BagOutcome out) {
    upload += out.uploadNanos();
    forward += out.forwardNanos();
    backward += out.backwardNanos();
  }

  void add(DecodedBag bag) {
    decode += bag.decodeNanos();
    cacheHits += bag.cacheHits();
    cacheMisses += bag.cacheMisses();
    cacheBytes = bag.cacheBytes();
  }

  Worker.LoaderCounts loaderCounts() {
    return new Worker.LoaderCounts(decode, cacheHits, cacheMisses, cacheBytes);
  }

  Worker.StageNanos snapshot() {
    return new Worker.StageNanos(decodeWait, upload, forward, backward, allReduce, optimizer);
  }

  void reset() {
    decodeWait = upload = forward = backward = allReduce = optimizer = 0;
    decode = cacheHits = cacheMisses = cacheBytes = 0;
  }
}
