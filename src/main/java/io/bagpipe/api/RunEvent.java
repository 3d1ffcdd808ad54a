package io.bagpipe.api;

import io.bagpipe.coordinator.EpochRecord;
import io.bagpipe.serialization.BagpipeMessage;

/**
 * What happens in a run, in order, as the Coordinator publishes it. Observe them
 * with {@link BagpipeRun#events()}. Events are data: they serialise, so a
 * listener on another node than the Coordinator receives the same ones.
 */
public sealed interface RunEvent extends BagpipeMessage {

  /** The run began (or resumed at {@code startEpoch}/{@code startStep}). */
  record RunStarted(String runDir, int workers, int epochs, int startEpoch, long startStep, int trainSlides,
      int validationSlides) implements RunEvent {}

  /** A worker took its place; {@code device} is e.g. {@code cpu} or {@code gpu0}. */
  record WorkerJoined(int rank, String device) implements RunEvent {}

  /** A worker stopped; {@code reason} says why. */
  record WorkerLeft(int rank, String reason) implements RunEvent {}

  /**
   * The gradient ring was formed again, as {@code generation} of {@code workers}
   * ranks, after a loss ({@code reason}); training goes on from the last committed step.
   */
  record RingReformed(long generation, int workers, String reason) implements RunEvent {}

  /**
   * Only {@code workers} are left after losing {@code lost}, fewer than
   * {@code minWorkers}: training waits up to {@code waitSeconds} for workers to join.
   */
  record RunPaused(int workers, int minWorkers, long waitSeconds, String lost) implements RunEvent {}

  /**
   * Training of epoch {@code epoch} (of {@code epochs}) began: {@code steps} optimizer
   * steps over {@code bags} bags, from {@code firstStep}.
   */
  record EpochStarted(int epoch, int epochs, int steps, int firstStep, int bags) implements RunEvent {}

  /**
   * An optimizer step completed on every worker: {@code step} of {@code steps}
   * done in this epoch, with the epoch's mean training loss and bags/s so far.
   */
  record StepCompleted(int epoch, int step, int steps, double meanLoss, double bagsPerSecond, int bagsDone)
      implements RunEvent {}

  /** Validation of an epoch began over {@code bags} bags. */
  record ValidationStarted(int epoch, int bags) implements RunEvent {}

  /** A bag was skipped: its slide could not be read or a patch fell outside it. */
  record BagSkipped(int epoch, long bagKey, String slideId, String reason) implements RunEvent {}

  /**
   * A bag of slide {@code slideId} could not be read in {@code epoch} ({@code reason}):
   * the slide is quarantined, left out of every later epoch (and of a resumed run).
   */
  record SlideQuarantined(String slideId, int epoch, String reason) implements RunEvent {}

  /**
   * The test split was scored once, after the last epoch, with the parameters the run
   * ended with (also written to the run's {@code test-metrics.json} and
   * {@code test-predictions.csv}).
   */
  record TestScored(io.bagpipe.coordinator.TestResult result) implements RunEvent {}

  /** An epoch's merged record (also appended to the run's metrics file). */
  record EpochCompleted(EpochRecord record) implements RunEvent {}

  /** A checkpoint was written; {@code best} also holds the best one's path, or is empty. */
  record CheckpointSaved(int epoch, long step, String path, String best) implements RunEvent {}

  /** A checkpoint could not be written; the run goes on, the older ones are intact. */
  record CheckpointFailed(int epoch, String reason) implements RunEvent {}

  /**
   * Early stopping ended training after epoch {@code epoch}: {@code metric} last improved by more
   * than bagpipe.train.early-stopping.min-delta in epoch {@code improvedEpoch} (-1: never), which is
   * {@code patience} or more epochs ago. The best value and epoch are {@code bestValue} and
   * {@code bestEpoch}; the run completes normally, its checkpoints written.
   */
  record EarlyStopped(int epoch, String metric, double bestValue, int bestEpoch, int improvedEpoch, int patience)
      implements RunEvent {}

  /**
   * This subscriber fell more than {@code bagpipe.events.buffer} events behind (or subscribed
   * after that many were published): {@code count} events published since the last one it
   * received were dropped, {@link StepCompleted}s that a newer one supersedes first, else the
   * oldest; the events after this one follow in order. Made by {@link BagpipeRun#events()}
   * for each subscriber on its own; the Coordinator never publishes it.
   */
  record EventsDropped(long count) implements RunEvent {}

  /** The run ended normally, or was stopped gracefully ({@link RunResult#stopped()}). */
  record RunCompleted(RunResult result) implements RunEvent {}

  /** The run failed; {@code reason} says why and what to do. */
  record RunFailed(String reason) implements RunEvent {}
}
