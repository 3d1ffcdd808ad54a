package io.bagpipe.checkpoint;

import java.util.HashSet;
import java.util.List;
import java.util.Objects;

/**
 * Everything a run needs to continue where it stopped: its position and best
 * metric ({@link RunState}), the model's parameters and the optimizer's state.
 * Tensor lists keep their order; names are unique within each list.
 *
 * @param state where the run stands
 * @param parameters the model's parameters
 * @param optimizerState the optimizer's per-parameter state (moments, step counts, ...)
 */
public record Checkpoint(RunState state, List<NamedTensor> parameters, List<NamedTensor> optimizerState) {

  public Checkpoint {
    Objects.requireNonNull(state, "state");
    parameters = List.copyOf(parameters);
    optimizerState = List.copyOf(optimizerState);
    uniqueNames(parameters, "parameter");
    uniqueNames(optimizerState, "optimizer state");
  }

  private static void uniqueNames(List<NamedTensor> tensors, String what) {
    var seen = new HashSet<String>();
    for (NamedTensor t : tensors) {
      if (!seen.add(t.name())) {
        throw new IllegalArgumentException("two " + what + " tensors are named " + t.name());
      }
    }
  }
}
