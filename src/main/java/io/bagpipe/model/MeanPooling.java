package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

/** Mean MIL pooling: embedding (1/N) sum_i h_i; every patch weighs 1/N. No parameters. */
public final class MeanPooling extends MilPooling {

  @Override
  NDList pool(ParameterStore ps, NDArray h, boolean training) {
    long n = h.getShape().get(0);
    NDArray weights = h.getManager().full(new Shape(n), 1f / n);
    return new NDList(h.mean(new int[] {0}, true), weights);
  }
}
