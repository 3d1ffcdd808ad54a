package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;

/**
 * DSMIL (Li et al. 2021, "Dual-stream multiple instance learning network"), with the non-linear
 * query network and v = h (the reference code's defaults), without dropout.
 *
 * <p>Stream one: an instance classifier Linear(D, C) gives c (N,C); per class j the critical
 * instance is the patch with the largest c[:, j]. Stream two: queries q = tanh(Q2 ReLU(Q1 h))
 * (N,q); attention A = softmax over patches of q q_crit^T / sqrt(q) (N,C), one column per class;
 * B = A^T h (C,D). The reference's bag classifier Conv1d(C, C, kernel D) on B is exactly a
 * Linear(C*D, C) on B flattened, which is this pooling's head. Training loss =
 * 0.5 * CE(bag logits) + 0.5 * CE(per-class max of c). (The reference trains with binary
 * cross-entropy on multi-label targets; Bagpipe's bags have one class, so both terms are
 * cross-entropy.) Patch weights: the mean of A's columns.
 */
public final class DsmilPooling extends MilPooling {

  private final int classes;
  private final int queryDim;
  private final Linear instance;
  private final Linear q1;
  private final Linear q2;

  /**
   * @param queryDim size of the query vectors
   * @param classes number of classes
   */
  public DsmilPooling(int queryDim, int classes) {
    this.classes = classes;
    this.queryDim = queryDim;
    instance = addChildBlock("inst", Linear.builder().setUnits(classes).build());
    q1 = addChildBlock("q1", Linear.builder().setUnits(queryDim).build());
    q2 = addChildBlock("q2", Linear.builder().setUnits(queryDim).build());
  }

  @Override
  NDList pool(ParameterStore ps, NDArray h, boolean training) {
    NDArray c = instance.forward(ps, new NDList(h), training).singletonOrThrow(); // (N,C)
    NDArray hidden = Activation.relu(q1.forward(ps, new NDList(h), training).singletonOrThrow());
    NDArray q = q2.forward(ps, new NDList(hidden), training).singletonOrThrow().tanh(); // (N,q)
    float[] scores = c.toFloatArray();
    int n = Math.toIntExact(h.getShape().get(0));
    long[] critical = new long[classes];
    for (int j = 0; j < classes; j++) {
      critical[j] = InstanceRanking.descending(scores, n, classes, j)[0];
    }
    NDArray qCritical = q.get(h.getManager().create(critical)); // (C,q)
    NDArray a = q.matMul(qCritical.transpose()).div((float) Math.sqrt(queryDim)).softmax(0); // (N,C)
    NDArray b = a.transpose().matMul(h); // (C,D)
    NDList out = new NDList(b.reshape(1, -1), a.mean(new int[] {1}));
    if (training) {
      out.add(c);
    }
    return out;
  }

  /** The instance classifier's logits c (N,C) of patch features h (N,D), in inference mode. */
  NDArray instanceLogits(ParameterStore ps, NDArray h) {
    return instance.forward(ps, new NDList(h), false).singletonOrThrow();
  }

  @Override
  public NDArray trainingLoss(NDList output, int label) {
    if (output.size() < 3) {
      throw new IllegalArgumentException("DSMIL's loss needs a training-mode output (instance logits)");
    }
    NDArray maxInstance = output.get(2).max(new int[] {0}, true); // (1,C)
    return super.trainingLoss(output, label).mul(0.5f).add(CrossEntropyLoss.of(maxInstance, label).mul(0.5f));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    Shape h = inputShapes[0];
    return new Shape[] {new Shape(1, classes * h.get(1)), new Shape(h.get(0))};
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    instance.initialize(manager, dataType, inputShapes[0]);
    q1.initialize(manager, dataType, inputShapes[0]);
    q2.initialize(manager, dataType, new Shape(inputShapes[0].get(0), queryDim));
  }
}
