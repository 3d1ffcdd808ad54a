package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * One Linear(H, 1) per class, class c reading row c of a (classes, H) embedding that arrives
 * flattened as (1, classes*H): logit_c = weight_c . M_c + bias_c. CLAM-MB's bag classifiers.
 * Parameters: weight (classes, H), bias (classes), initialised as C separate Linear(H, 1) would be.
 */
final class PerClassHead extends AbstractBlock {

  private final int classes;
  private final Parameter weight;
  private final Parameter bias;

  PerClassHead(int classes) {
    this.classes = classes;
    weight = addParameter(Parameter.builder().setName("weight").setType(Parameter.Type.WEIGHT).build());
    bias = addParameter(Parameter.builder().setName("bias").setType(Parameter.Type.BIAS).build());
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray m = inputs.singletonOrThrow().reshape(classes, -1);
    NDArray wt = ps.getValue(weight, m.getDevice(), training);
    NDArray b = ps.getValue(bias, m.getDevice(), training);
    return new NDList(m.mul(wt).sum(new int[] {1}).add(b).reshape(1, classes));
  }

  @Override
  public void prepare(Shape[] inputShapes) {
    long h = inputShapes[0].get(inputShapes[0].dimension() - 1) / classes;
    weight.setShape(new Shape(classes, h));
    bias.setShape(new Shape(classes));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return new Shape[] {new Shape(1, classes)};
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
  }
}
