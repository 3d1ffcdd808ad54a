package io.bagpipe.allreduce;

import java.util.concurrent.CompletionStage;

/**
 * Averages the workers' gradients of one step. Each of the {@code world} ranks
 * contributes the sum of its bags' gradients and the number of bags it processed
 * (its weight, 0 when it had none or its bag failed); every rank receives the same
 * average, sum of gradients divided by sum of weights, bit for bit, so replicas
 * that apply it stay identical.
 *
 * <p>Rounds are numbered by the caller (the global step); every rank takes part in
 * every round, in order.
 */
public interface AllReduce {

  /**
   * Contributes {@code gradient} (not modified; the caller may reuse it once the
   * stage completes) with {@code weight} to {@code round}. {@code halt} is a
   * control bit carried with the gradient: the result's {@code halt} is true when
   * any rank set it, so all ranks learn after the same round that the run stops.
   */
  CompletionStage<Reduced> reduce(int rank, long round, float[] gradient, int weight, boolean halt);

  /** Number of ranks taking part. */
  int world();

  /**
   * The result of a round: {@code average} is shared by all ranks and must be
   * treated as read-only, and it is valid until this rank's next {@link #reduce}
   * call, which may reuse the array for the next round (copy it to keep it); {@code weight} is the bags summed over ranks (when 0,
   * {@code average} is all zeros and the step must not be applied); {@code halt}
   * is the OR of the ranks' halt bits.
   */
  record Reduced(long round, float[] average, int weight, boolean halt) {}
}
