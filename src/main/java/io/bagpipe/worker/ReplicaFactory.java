package io.bagpipe.worker;

/** Makes the replica of one worker, on that worker's own thread. */
@FunctionalInterface
public interface ReplicaFactory {
  /** A replica on {@code device} ({@code cpu}, {@code gpuN}). */
  Replica create(String device);
}
