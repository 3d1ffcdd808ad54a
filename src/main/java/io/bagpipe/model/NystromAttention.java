package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Nyström self-attention (Xiong et al. 2021) over a sequence of tokens (n, dim), as TransMIL
 * uses it (the {@code nystrom-attention} package's formulation, no mask, no dropout).
 *
 * <p>Why: exact attention is O(n^2) in a bag's patches; Nyström approximates softmax(Q K^T) V by
 * softmax(Q K~^T) pinv(softmax(Q~ K~^T)) softmax(Q~ K^T) V with m landmarks Q~, K~ (means of
 * consecutive groups of l = ceil(n/m) queries and keys), so it costs O(n m). The sequence is
 * first padded at the front with zero tokens to a multiple of m; the pseudo-inverse is the
 * iterative Moore-Penrose scheme z <- z (13 I - xz (15 I - xz (7 I - xz))) / 4 from
 * z0 = x^T / (max column sum * max row sum of |x|), the maxima taken over all heads; a
 * depth-wise convolution of height {@code residualKernel} over v is added to the output; the
 * padding rows are dropped after the output projection.
 */
final class NystromAttention extends AbstractBlock {

  private final int heads;
  private final int landmarks;
  private final int iterations;
  private final int dim;
  private final Linear qkv;
  private final Linear out;
  private final Conv2d residual;

  NystromAttention(int dim, int heads, int landmarks, int iterations, int residualKernel) {
    this.dim = dim;
    this.heads = heads;
    this.landmarks = landmarks;
    this.iterations = iterations;
    qkv = addChildBlock("qkv", Linear.builder().setUnits(3L * dim).optBias(false).build());
    out = addChildBlock("out", Linear.builder().setUnits(dim).build());
    residual = addChildBlock("res", Conv2d.builder().setKernelShape(new Shape(residualKernel, 1))
        .optPadding(new Shape(residualKernel / 2, 0)).setFilters(heads).optGroups(heads).optBias(false).build());
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray x = inputs.singletonOrThrow(); // (n, dim)
    int n = Math.toIntExact(x.getShape().get(0));
    int m = landmarks;
    int padding = n % m == 0 ? 0 : m - n % m;
    if (padding > 0) {
      x = x.getManager().zeros(new Shape(padding, dim), x.getDataType(), x.getDevice()).concat(x, 0);
    }
    int np = n + padding;
    int dh = dim / heads;
    NDList parts = qkv.forward(ps, new NDList(x), training).singletonOrThrow().split(3, 1);
    NDArray q = heads(parts.get(0), np, dh).mul((float) (1 / Math.sqrt(dh)));
    NDArray k = heads(parts.get(1), np, dh);
    NDArray v = heads(parts.get(2), np, dh);
    int l = np / m;
    NDArray qLand = q.reshape(heads, m, l, dh).sum(new int[] {2}).div(l);
    NDArray kLand = k.reshape(heads, m, l, dh).sum(new int[] {2}).div(l);
    NDArray attn1 = q.matMul(kLand.transpose(0, 2, 1)).softmax(-1); // (h, np, m)
    NDArray attn2 = qLand.matMul(kLand.transpose(0, 2, 1)).softmax(-1); // (h, m, m)
    NDArray attn3 = qLand.matMul(k.transpose(0, 2, 1)).softmax(-1); // (h, m, np)
    NDArray y = attn1.matMul(pinv(attn2)).matMul(attn3.matMul(v)); // (h, np, dh)
    y = y.add(residual.forward(ps, new NDList(v.expandDims(0)), training).singletonOrThrow().squeeze(0));
    y = y.transpose(1, 0, 2).reshape(np, dim);
    y = out.forward(ps, new NDList(y), training).singletonOrThrow();
    return new NDList(padding > 0 ? y.get(padding + ":") : y);
  }

  /** (np, h*dh) to (h, np, dh). */
  private NDArray heads(NDArray t, int np, int dh) {
    return t.reshape(np, heads, dh).transpose(1, 0, 2);
  }

  private NDArray pinv(NDArray x) {
    NDArray abs = x.abs();
    NDArray col = abs.sum(new int[] {-1});
    NDArray row = abs.sum(new int[] {-2});
    NDArray z = x.transpose(0, 2, 1).div(col.max().mul(row.max()));
    NDArray eye = x.getManager().eye(landmarks).toType(x.getDataType(), false).expandDims(0);
    for (int i = 0; i < iterations; i++) {
      NDArray xz = x.matMul(z);
      NDArray inner = eye.mul(7).sub(xz);
      inner = eye.mul(15).sub(xz.matMul(inner));
      inner = eye.mul(13).sub(xz.matMul(inner));
      z = z.mul(0.25f).matMul(inner);
    }
    return z;
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return new Shape[] {inputShapes[0]};
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    Shape x = inputShapes[0];
    qkv.initialize(manager, dataType, x);
    out.initialize(manager, dataType, x);
    residual.initialize(manager, dataType, new Shape(1, heads, landmarks, dim / heads));
  }
}
