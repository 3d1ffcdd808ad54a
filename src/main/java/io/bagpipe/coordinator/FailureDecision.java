package io.bagpipe.coordinator;

/**
 * What the Coordinator does about a failure, decided by {@link FailurePolicy}
 * and then carried out.
 */
public sealed interface FailureDecision {

  /** Try the same again; {@code report} says what failed. */
  record Retry(String report) implements FailureDecision {}

  /** Report the bag and go on without it; its step counts one bag fewer. */
  record Skip(String report) implements FailureDecision {}

  /**
   * Drop the step in flight on every rank and go on with a new ring of the ranks
   * that are still there; {@code report} says what was lost.
   */
  record Regroup(String report) implements FailureDecision {}

  /**
   * Too few workers are left to go on: wait, idle, for workers to join, and end the
   * run if none come in time; {@code report} says why.
   */
  record Pause(String report) implements FailureDecision {}

  /** End the run; {@code reason} tells the user what happened and what to do. */
  record Abort(String reason) implements FailureDecision {}
}
