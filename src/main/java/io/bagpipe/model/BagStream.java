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
 * hand is on the device; the stream keeps one float per patch (the attention logit) and a few
 * vectors of the feature size D, so its memory is O(N + D) whatever the bag's size.
 *
 * <h2>Why the result equals the full-bag forward</h2>
 *
 * Every pooling is a function of per-patch quantities that combine associatively:
 * <ul>
 *   <li>attention and gated attention: the logit s_i of each patch depends on that patch alone,
 *       and softmax pooling is sum_i exp(s_i - m) h_i / sum_i exp(s_i - m) for any m. The stream
 *       keeps the running maximum m, the running sum S = sum exp(s_i - m) and the weighted sum
 *       Z = sum exp(s_i - m) h_i; when a chunk raises the maximum to m', S and Z are rescaled by
 *       exp(m - m') (the online softmax). The weights exp(s_i - m)/S come from the kept logits.
 *   <li>mean: a running sum of h_i and a count.
 *   <li>max: the running maximum per feature and the first patch holding it; a patch's weight is
 *       the share of features whose maximum it holds, as {@link MaxPooling} defines it.
 * </ul>
 * Sums run in double precision on the CPU, so a chunked bag agrees with {@link MilModel#forward}
 * to float rounding. The encoder runs in inference mode (BatchNorm uses its running statistics)
 * with gradients off.
 */
public final class BagStream {

  private final MilModel model;
  private final NDManager manager;
  private final ParameterStore store;
  private final PoolingKind kind;
  private float[] logits = new float[1024];
  private int patches;
  private int dim = -1;
  // attention: running max, sum and weighted sum; mean: sum; max: maxima and their owners
  private double runningMax = Double.NEGATIVE_INFINITY;
  private double runningSum;
  private double[] sum;
  private float[] maxima;
  private int[] owners;

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
      case ClamPooling c -> throw unsupported(c.multiBranch() ? PoolingKind.CLAM_MB : PoolingKind.CLAM_SB);
      case MaxInstancePooling m -> throw unsupported(PoolingKind.MAX_INSTANCE);
      case TransMilPooling t -> throw unsupported(PoolingKind.TRANSMIL);
      case DsmilPooling d -> throw unsupported(PoolingKind.DSMIL);
    };
  }

  private static IllegalArgumentException unsupported(PoolingKind kind) {
    return new IllegalArgumentException("chunked inference (predict) supports the poolings attention, gated-attention,"
        + " mean and max; this model's pooling is " + kind.configName() + " (bagpipe.model.pooling)");
  }

  /** Patches added so far. */
  public int patches() {
    return patches;
  }

  /**
   * Runs the encoder (and the attention network) over a chunk of normalised patches (n,3,H,W)
   * and folds it into the bag. Arrays made here are closed before it returns; {@code chunk}
   * stays the caller's.
   */
  public void add(NDArray chunk) {
    boolean gradMode = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
    try (NDManager scope = chunk.getManager().newSubManager()) {
      chunk.tempAttach(scope); // every array the forward makes lands in scope and is closed with it
      NDArray h = model.encoder().forward(store, new NDList(chunk), false).singletonOrThrow();
      if (h.getShape().dimension() != 2) {
        h = h.reshape(h.getShape().get(0), -1);
      }
      int n = Math.toIntExact(h.getShape().get(0));
      int d = Math.toIntExact(h.getShape().get(1));
      if (dim < 0) {
        start(d);
      }
      float[] features = h.toFloatArray();
      float[] scores = switch (model.pooling()) {
        case AttentionPooling a -> a.scores(store, h, false).toFloatArray();
        case GatedAttentionPooling g -> g.scores(store, h, false).toFloatArray();
        case MeanPooling m -> null;
        case MaxPooling m -> null;
        case ClamPooling c -> throw new IllegalStateException("unreachable");
        case MaxInstancePooling m -> throw new IllegalStateException("unreachable");
        case TransMilPooling t -> throw new IllegalStateException("unreachable");
        case DsmilPooling ds -> throw new IllegalStateException("unreachable");
      };
      fold(features, scores, n);
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }

  private void start(int d) {
    dim = d;
    sum = new double[d];
    if (kind == PoolingKind.MAX) {
      maxima = new float[d];
      Arrays.fill(maxima, Float.NEGATIVE_INFINITY);
      owners = new int[d];
    }
  }

  private void fold(float[] h, float[] scores, int n) {
    if (patches + n > logits.length) {
      logits = Arrays.copyOf(logits, Math.max(patches + n, logits.length * 2));
    }
    switch (kind) {
      case ATTENTION, GATED_ATTENTION -> {
        double chunkMax = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
          chunkMax = Math.max(chunkMax, scores[i]);
        }
        double m = Math.max(runningMax, chunkMax);
        double rescale = runningMax == Double.NEGATIVE_INFINITY ? 0 : Math.exp(runningMax - m);
        runningSum *= rescale;
        for (int c = 0; c < dim; c++) {
          sum[c] *= rescale;
        }
        for (int i = 0; i < n; i++) {
          double e = Math.exp(scores[i] - m);
          runningSum += e;
          for (int c = 0; c < dim; c++) {
            sum[c] += e * h[i * dim + c];
          }
        }
        runningMax = m;
        System.arraycopy(scores, 0, logits, patches, n);
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
    }
    patches += n;
  }

  /**
   * The bag's result: the head's logits on the pooled embedding and one weight per patch, in
   * the order the patches were added.
   *
   * @throws IllegalStateException when no patch was added
   */
  public BagOutput finish() {
    if (patches == 0) {
      throw new IllegalStateException("a bag needs at least one patch");
    }
    float[] embedding = new float[dim];
    float[] weights = new float[patches];
    switch (kind) {
      case ATTENTION, GATED_ATTENTION -> {
        for (int c = 0; c < dim; c++) {
          embedding[c] = (float) (sum[c] / runningSum);
        }
        for (int i = 0; i < patches; i++) {
          weights[i] = (float) (Math.exp(logits[i] - runningMax) / runningSum);
        }
      }
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
    }
    boolean gradMode = JniUtils.isGradMode();
    JniUtils.setGradMode(false);
    try (NDManager scope = manager.newSubManager()) {
      NDArray z = scope.create(embedding, new Shape(1, dim));
      NDArray out = model.head().forward(store, new NDList(z), false).singletonOrThrow();
      return new BagOutput(Float.NaN, out.toFloatArray(), weights);
    } finally {
      JniUtils.setGradMode(gradMode);
    }
  }
}
