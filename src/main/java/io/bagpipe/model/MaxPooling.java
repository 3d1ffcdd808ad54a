package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.ParameterStore;

/**
 * Max MIL pooling: embedding max_i h_i per feature. A patch's weight is the share of the D
 * features whose maximum it holds (ties go to the first such patch), so weights sum to 1 and a
 * patch that wins no feature weighs 0. No parameters.
 */
public final class MaxPooling extends MilPooling {

  @Override
  NDList pool(ParameterStore ps, NDArray h, boolean training) {
    long n = h.getShape().get(0);
    NDArray z = h.max(new int[] {0}, true);
    NDArray weights;
    try (NDArray winners = h.argMax(0)) { // (D) patch index per feature
      weights = winners.oneHot((int) n).mean(new int[] {0}); // (N)
    }
    return new NDList(z, weights);
  }
}
