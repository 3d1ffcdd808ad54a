package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.List;

/**
 * CLAM (Lu et al. 2021, "Data-efficient and weakly supervised computational pathology on
 * whole-slide images"), single-branch (SB) or multi-branch (MB), without dropout.
 *
 * <p>Patch features h (N,D) are projected, h' = ReLU(fc h) (N,H); gated attention gives raw scores
 * s = w^T (tanh(V h') * sigmoid(U h')) with one column (SB) or one per class (MB), a = softmax
 * over patches of each column, and the branch embeddings M = a^T h' (K,H). SB's head is
 * Linear(H, classes) on M; MB's is one Linear(H, 1) per class on that class's row of M
 * ({@link PerClassHead}). The patch weights reported are a (SB) or the mean of the branches' a (MB).
 *
 * <p>Training adds CLAM's instance clustering loss: each class c has an instance classifier
 * Linear(H, 2). For the bag's class, its branch's k most attended patches are taught "positive"
 * and its k least attended "negative" by classifier c; with {@code subtyping}, every other class's
 * classifier is taught that its own branch's k most attended patches are "negative", and the sum
 * is divided by the number of classes. Loss = bag-weight * CE(logits) + (1 - bag-weight) * that.
 * CLAM's code uses a smooth top-1 SVM for the instance loss by default; Bagpipe uses
 * cross-entropy, which CLAM also offers. k is min(k-sample, N), so a bag smaller than k still
 * trains (CLAM's own topk would fail there); the two sets then overlap.
 */
public final class ClamPooling extends MilPooling {

  private final boolean multiBranch;
  private final int classes;
  private final ZooSettings.Clam clam;
  private final Linear fc;
  private final Linear v;
  private final Linear u;
  private final Linear w;
  private final List<Linear> instance = new ArrayList<>();

  /**
   * @param multiBranch CLAM-MB (one attention branch and bag classifier per class) or CLAM-SB
   * @param attentionDim the gated attention's hidden size
   * @param classes number of classes
   * @param clam hidden size, k, bag weight and subtyping
   */
  public ClamPooling(boolean multiBranch, int attentionDim, int classes, ZooSettings.Clam clam) {
    this.multiBranch = multiBranch;
    this.classes = classes;
    this.clam = clam;
    fc = addChildBlock("fc", Linear.builder().setUnits(clam.hiddenDim()).build());
    v = addChildBlock("V", Linear.builder().setUnits(attentionDim).build());
    u = addChildBlock("U", Linear.builder().setUnits(attentionDim).build());
    w = addChildBlock("w", Linear.builder().setUnits(multiBranch ? classes : 1).build());
    for (int c = 0; c < classes; c++) {
      instance.add(addChildBlock("inst" + c, Linear.builder().setUnits(2).build()));
    }
  }

  /** Whether this is CLAM-MB. */
  public boolean multiBranch() {
    return multiBranch;
  }

  @Override
  NDList pool(ParameterStore ps, NDArray h, boolean training) {
    NDArray hp = project(ps, h, training); // (N,H)
    NDArray s = scores(ps, hp, training); // (N,K)
    NDArray a = s.softmax(0);
    NDArray m = a.transpose().matMul(hp); // (K,H)
    NDList out = new NDList(m.reshape(1, -1), multiBranch ? a.mean(new int[] {1}) : a.reshape(-1));
    if (training) {
      out.add(s);
      for (Linear c : instance) {
        out.add(c.forward(ps, new NDList(hp), true).singletonOrThrow()); // (N,2)
      }
    }
    return out;
  }

  /** The projected features h' = ReLU(fc h) (N,H) of patch features h (N,D). */
  NDArray project(ParameterStore ps, NDArray h, boolean training) {
    return Activation.relu(fc.forward(ps, new NDList(h), training).singletonOrThrow());
  }

  /** The raw attention scores (N,K) of projected features h' (N,H), before the softmax. */
  NDArray scores(ParameterStore ps, NDArray hp, boolean training) {
    NDArray tanh = v.forward(ps, new NDList(hp), training).singletonOrThrow().tanh();
    NDArray gate = Activation.sigmoid(u.forward(ps, new NDList(hp), training).singletonOrThrow());
    return w.forward(ps, new NDList(tanh.mul(gate)), training).singletonOrThrow();
  }

  @Override
  public Block newHead(int classes) {
    return multiBranch ? new PerClassHead(classes) : super.newHead(classes);
  }

  @Override
  public NDArray trainingLoss(NDList output, int label) {
    NDArray bag = super.trainingLoss(output, label);
    if (output.size() < 3 + classes) {
      throw new IllegalArgumentException("CLAM's loss needs a training-mode output (attention scores and instance logits)");
    }
    NDArray s = output.get(2);
    int n = Math.toIntExact(s.getShape().get(0));
    int branches = Math.toIntExact(s.getShape().get(1));
    float[] scores = s.toFloatArray();
    int k = Math.min(clam.kSample(), n);
    NDManager manager = s.getManager();
    NDArray total = null;
    for (int c = 0; c < classes; c++) {
      NDArray logits = output.get(3 + c);
      int branch = branches == 1 ? 0 : c;
      int[] order = InstanceRanking.descending(scores, n, branches, branch);
      NDArray term;
      if (c == label) {
        long[] rows = new long[2 * k];
        long[] targets = new long[2 * k];
        for (int i = 0; i < k; i++) {
          rows[i] = order[i];
          targets[i] = 1;
          rows[k + i] = order[n - 1 - i];
        }
        term = CrossEntropyLoss.of(logits.get(manager.create(rows)), manager.create(targets));
      } else if (clam.subtyping()) {
        long[] rows = new long[k];
        for (int i = 0; i < k; i++) {
          rows[i] = order[i];
        }
        term = CrossEntropyLoss.of(logits.get(manager.create(rows)), manager.create(new long[k]));
      } else {
        continue;
      }
      total = total == null ? term : total.add(term);
    }
    if (clam.subtyping()) {
      total = total.div(classes);
    }
    return bag.mul((float) clam.bagWeight()).add(total.mul((float) (1 - clam.bagWeight())));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    Shape h = inputShapes[0];
    return new Shape[] {new Shape(1, (long) (multiBranch ? classes : 1) * clam.hiddenDim()), new Shape(h.get(0))};
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    Shape h = inputShapes[0];
    fc.initialize(manager, dataType, h);
    Shape hp = new Shape(h.get(0), clam.hiddenDim());
    v.initialize(manager, dataType, hp);
    u.initialize(manager, dataType, hp);
    w.initialize(manager, dataType, v.getOutputShapes(new Shape[] {hp})[0]);
    for (Linear c : instance) {
      c.initialize(manager, dataType, hp);
    }
  }
}
