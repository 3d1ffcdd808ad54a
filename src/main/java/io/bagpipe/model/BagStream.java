package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import java.util.Arrays;
import java.util.Objects;

/**
 * A {@link MilModel} forward pass over a bag that arrives in chunks of patches, for inference
 * on slides with more patches than fit through the encoder at once (100k+). Only the chunk in
 * hand is on the device. For the softmax and plain poolings the stream keeps K floats per patch
 * (the attention logits of K branches) and a few vectors of the embedding size, so its memory
 * is O(N K + K E) whatever the bag's size; TransMIL and DSMIL keep every patch's features (below).
 *
 * <h2>Why the result equals the full-bag forward</h2>
 *
 * Most poolings are functions of per-patch quantities that combine associatively:
 * <ul>
 *   <li>attention, gated attention and max-instance (whose bag prediction is its gated
 *       attention's; the instance classifier only shapes training): the logit s_i of each patch
 *       depends on that patch alone, and softmax pooling is sum_i exp(s_i - m) h_i / sum_i
 *       exp(s_i - m) for any m. The stream keeps the running maximum m, the running sum
 *       S = sum exp(s_i - m) and the weighted sum Z = sum exp(s_i - m) h_i; when a chunk raises
 *       the maximum to m', S and Z are rescaled by exp(m - m') (the online softmax). The weights
 *       exp(s_i - m)/S come from the kept logits.
 *   <li>CLAM-SB and CLAM-MB: the same online softmax over the projected features
 *       h'_i = ReLU(fc h_i), once per attention branch (one, or one per class); the branch
 *       embeddings are concatenated as {@link ClamPooling} does, and MB's patch weight is the
 *       mean of its branches' weights.
 *   <li>mean: a running sum of h_i and a count.
 *   <li>max: the running maximum per feature and the first patch holding it; a patch's weight is
 *       the share of features whose maximum it holds, as {@link MaxPooling} defines it.
 * </ul>
 * TransMIL cannot be folded: its tokens attend to each other and its PPEG lays all of them out
 * as one square image. DSMIL's attention is relative to the critical instance, which is known
 * only once every patch has been scored (a second pass would decode the slide twice). For these
 * two the stream keeps the encoder's output of every patch, N x D floats on the heap (a 100k-patch
 * slide with D = 512 holds 200 MB), and runs the pooling on all of them in {@link #finish}.
 *
 * <p>Sums run in double precision on the CPU, so a chunked bag agrees with {@link MilModel#forward}
 * to float rounding. The encoder runs in inference mode (BatchNorm uses its running statistics)
 * with gradients off.
 *
 * <p>DSMIL's slide prediction is what DSMIL's reference code predicts with at test time: the
 * mean of the bag classifier's and the max-instance classifier's class probabilities (both
 * softmax here, as Bagpipe trains both with cross-entropy). {@link #finish} returns as logits the
 * logarithm of that mean, so their softmax is the mean itself.
 */
public final class BagStream {

  private final MilModel model;
  private final NDManager manager;
  private final ParameterStore store;
  private final PoolingKind kind;
  private final int branches;
  private float[] logits = new float[1024];
  private int patches;
  private int dim = -1;
  // softmax poolings: per branch the running max, sum and weighted sum; mean: sum; max: maxima and owners
  private double[] runningMax;
  private double[] runningSum;
  private double[] sum;
  private float[] maxima;
  private int[] owners;
  // TransMIL and DSMIL: every patch's features, row by row
  private float[] kept;

  /** A stream over one bag through {@code model}, whose parameters live in {@code manager}. */
  public BagStream(MilModel model, NDManager manager) {
    this.model = Objects.requireNonNull(model, "model");
    this.manager = Objects.requireNonNull(manager, "manager");
    this.store = new ParameterStore(manager, false);
    this.kind = switch (model.pooling()) {
      case AttentionPooling a -> PoolingKind.ATTENTION;
      case GatedAttentionPooling g -> PoolingKind.GATED_ATTENTION;
      case MeanPooling m -> PoolingKind.MEAN;
      case MaxPooling m -> PoolingKind.MAX;
      case ClamPooling c -> c.multiBranch() ? PoolingKind.CLAM_MB : PoolingKind.CLAM_SB;
      case MaxInstancePooling m -> PoolingKind.MAX_INSTANCE;
      case TransMilPooling t -> PoolingKind.TRANSMIL;
      case DsmilPooling d -> PoolingKind.DSMIL;
    };
    this.branches = kind == PoolingKind.CLAM_MB ? model.classes() : 1;
  }

  /** Patches added so far. */
  public int patches() {
    return patches;
  }

  /**
   * Runs the encoder (and the pooling's per-patch part) over a chunk of normalised patches
   * (n,3,H,W), or over patch features (n,D) for a model on feature files, and folds it into the
   * bag. Arrays made here are closed before it returns; {@code chunk} stays the caller's.
   */
  public void add(NDArray chunk) {
    boolean gradMode = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
    try (NDManager scope = chunk.getManager().newSubManager()) {
      chunk.tempAttach(scope); // every array the forward makes lands in scope and is closed with it
      NDArray h = chunk.getShape().dimension() == 2 ? chunk
          : model.encoder().forward(store, new NDList(chunk), false).singletonOrThrow();
      if (h.getShape().dimension() != 2) {
        h = h.reshape(h.getShape().get(0), -1);
      }
      int n = Math.toIntExact(h.getShape().get(0));
      float[] scores = null;
      switch (model.pooling()) {
        case AttentionPooling a -> scores = a.scores(store, h, false).toFloatArray();
        case GatedAttentionPooling g -> scores = g.scores(store, h, false).toFloatArray();
        case MaxInstancePooling m -> scores = m.scores(store, h, false).toFloatArray();
        case ClamPooling c -> {
          h = c.project(store, h, false);
          scores = c.scores(store, h, false).toFloatArray();
        }
        case MeanPooling m -> { }
        case MaxPooling m -> { }
        case TransMilPooling t -> { }
        case DsmilPooling d -> { }
      }
      if (dim < 0) {
        start(Math.toIntExact(h.getShape().get(1)));
      }
      fold(h.toFloatArray(), scores, n);
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }

  private void start(int d) {
    dim = d;
    switch (kind) {
      case MAX -> {
        maxima = new float[d];
        Arrays.fill(maxima, Float.NEGATIVE_INFINITY);
        owners = new int[d];
      }
      case TRANSMIL, DSMIL -> kept = new float[Math.multiplyExact(256, d)];
      default -> {
        sum = new double[Math.multiplyExact(branches, d)];
        runningMax = new double[branches];
        Arrays.fill(runningMax, Double.NEGATIVE_INFINITY);
        runningSum = new double[branches];
      }
    }
  }

  private void fold(float[] h, float[] scores, int n) {
    switch (kind) {
      case ATTENTION, GATED_ATTENTION, MAX_INSTANCE, CLAM_SB, CLAM_MB -> {
        if ((long) (patches + n) * branches > logits.length) {
          logits = Arrays.copyOf(logits, Math.toIntExact(Math.max((long) (patches + n) * branches, 2L * logits.length)));
        }
        for (int k = 0; k < branches; k++) {
          double chunkMax = Double.NEGATIVE_INFINITY;
          for (int i = 0; i < n; i++) {
            chunkMax = Math.max(chunkMax, scores[i * branches + k]);
          }
          double m = Math.max(runningMax[k], chunkMax);
          double rescale = runningMax[k] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(runningMax[k] - m);
          runningSum[k] *= rescale;
          int base = k * dim;
          for (int c = 0; c < dim; c++) {
            sum[base + c] *= rescale;
          }
          for (int i = 0; i < n; i++) {
            double e = Math.exp(scores[i * branches + k] - m);
            runningSum[k] += e;
            for (int c = 0; c < dim; c++) {
              sum[base + c] += e * h[i * dim + c];
            }
          }
          runningMax[k] = m;
        }
        System.arraycopy(scores, 0, logits, patches * branches, n * branches);
      }
      case MEAN -> {
        for (int i = 0; i < n; i++) {
          for (int c = 0; c < dim; c++) {
            sum[c] += h[i * dim + c];
          }
        }
      }
      case MAX -> {
        for (int i = 0; i < n; i++) {
          for (int c = 0; c < dim; c++) {
            if (h[i * dim + c] > maxima[c]) { // strictly greater: ties stay with the first patch
              maxima[c] = h[i * dim + c];
              owners[c] = patches + i;
            }
          }
        }
      }
      case TRANSMIL, DSMIL -> {
        long need = (long) (patches + n) * dim;
        if (need > kept.length) {
          if (need > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("a " + kind.configName() + " bag of " + (patches + n) + " patches of "
                + dim + " features exceeds one Java array; predict it on fewer patches (coarser grid or target-mpp)");
          }
          kept = Arrays.copyOf(kept, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(need, 2L * kept.length)));
        }
        System.arraycopy(h, 0, kept, patches * dim, n * dim);
      }
    }
    patches += n;
  }

  /**
   * The bag's result: the head's logits on the pooled embedding (for DSMIL the log of its
   * inference probabilities, see the class comment) and one weight per patch, in the order the
   * patches were added.
   *
   * @throws IllegalStateException when no patch was added
   */
  public BagOutput finish() {
    if (patches == 0) {
      throw new IllegalStateException("a bag needs at least one patch");
    }
    boolean gradMode = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
    try (NDManager scope = manager.newSubManager()) {
      if (kind == PoolingKind.TRANSMIL || kind == PoolingKind.DSMIL) {
        return whole(scope);
      }
      float[] embedding = new float[branches * dim];
      float[] weights = new float[patches];
      switch (kind) {
        case MEAN -> {
          for (int c = 0; c < dim; c++) {
            embedding[c] = (float) (sum[c] / patches);
          }
          Arrays.fill(weights, 1f / patches);
        }
        case MAX -> {
          for (int c = 0; c < dim; c++) {
            embedding[c] = maxima[c];
            weights[owners[c]] += 1f / dim;
          }
        }
        default -> {
          for (int k = 0; k < branches; k++) {
            for (int c = 0; c < dim; c++) {
              embedding[k * dim + c] = (float) (sum[k * dim + c] / runningSum[k]);
            }
            for (int i = 0; i < patches; i++) {
              weights[i] += (float) (Math.exp(logits[i * branches + k] - runningMax[k]) / runningSum[k] / branches);
            }
          }
        }
      }
      NDArray z = scope.create(embedding, new Shape(1, embedding.length));
      NDArray out = model.head().forward(store, new NDList(z), false).singletonOrThrow();
      return new BagOutput(Float.NaN, out.toFloatArray(), weights);
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }

  /** TransMIL and DSMIL: the pooling and head on all kept features at once. */
  private BagOutput whole(NDManager scope) {
    NDArray h = scope.create(Arrays.copyOf(kept, patches * dim), new Shape(patches, dim));
    NDList pooled = model.pooling().forward(store, new NDList(h), false);
    NDArray out = model.head().forward(store, new NDList(MilPooling.embedding(pooled)), false).singletonOrThrow();
    float[] logits = out.toFloatArray();
    if (model.pooling() instanceof DsmilPooling d) {
      float[] maxInstance = d.instanceLogits(store, h).max(new int[] {0}).toFloatArray();
      double[] bag = softmax(logits);
      double[] inst = softmax(maxInstance);
      for (int c = 0; c < logits.length; c++) {
        logits[c] = (float) Math.log(0.5 * bag[c] + 0.5 * inst[c]);
      }
    }
    return new BagOutput(Float.NaN, logits, MilPooling.weights(pooled).toFloatArray());
  }

  /** Class probabilities of {@code x} (logits), computed in double with the maximum subtracted. */
  public static double[] softmax(float[] x) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : x) {
      max = Math.max(max, v);
    }
    double total = 0;
    double[] p = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      p[i] = Math.exp(x[i] - max);
      total += p[i];
    }
    for (int i = 0; i < x.length; i++) {
      p[i] /= total;
    }
    return p;
  }
}
