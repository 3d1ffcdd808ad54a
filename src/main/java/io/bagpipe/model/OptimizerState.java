package io.bagpipe.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What an optimizer must carry across a checkpoint: the number of steps taken and its per-parameter
 * buffers, named {@code <parameter>.<buffer>} with PyTorch's buffer names ({@code momentum_buffer};
 * {@code exp_avg}, {@code exp_avg_sq}). A parameter with no buffer yet (SGD before its first step)
 * has no entry. The arrays are copies: changing them changes nothing in the optimizer.
 *
 * @param step optimizer steps taken so far
 * @param buffers buffers by name, in parameter order
 */
public record OptimizerState(long step, Map<String, float[]> buffers) {

  public OptimizerState {
    if (step < 0) {
      throw new IllegalArgumentException("step must be >= 0, got " + step);
    }
    Objects.requireNonNull(buffers, "buffers");
    buffers = Collections.unmodifiableMap(new LinkedHashMap<>(buffers));
  }
}
