package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;

/**
 * TransMIL (Shao et al. 2021, "TransMIL: Transformer based correlated multiple instance learning
 * for whole slide image classification"), full: PPEG included, no dropout.
 *
 * <p>Patch features h (N,D) become tokens ReLU(fc h) (N,dim); the first S - N tokens are appended
 * again so that S = ceil(sqrt N)^2 is a square; a learnt class token is put in front. Then
 * layer 1 (x + Nyström-attention(LayerNorm x)), PPEG (the S tokens as a dim-channel sqrt S x sqrt S
 * image: x + depth-wise convolutions 7x7 + 5x5 + 3x3, class token untouched), layer 2, LayerNorm;
 * the class token is the bag embedding (1,dim) and the head Linear(dim, classes) gives the logits.
 *
 * <p>TransMIL has no per-patch weight that sums to one, so the weights reported are uniform, 1/N.
 * The class token is initialised like a weight of fan-in dim (uniform +-1/sqrt(dim)), not from a
 * standard normal as the reference's {@code torch.randn}.
 */
public final class TransMilPooling extends MilPooling {

  private final ZooSettings.TransMil settings;
  private final Linear fc;
  private final Parameter cls;
  private final LayerNorm norm1;
  private final NystromAttention attn1;
  private final Conv2d ppeg7;
  private final Conv2d ppeg5;
  private final Conv2d ppeg3;
  private final LayerNorm norm2;
  private final NystromAttention attn2;
  private final LayerNorm norm;

  /** @param settings token size, heads, landmarks, pseudo-inverse iterations, residual kernel */
  public TransMilPooling(ZooSettings.TransMil settings) {
    this.settings = settings;
    int dim = settings.dim();
    fc = addChildBlock("fc", Linear.builder().setUnits(dim).build());
    cls = addParameter(Parameter.builder().setName("cls").setType(Parameter.Type.WEIGHT)
        .optShape(new Shape(1, dim)).build());
    norm1 = addChildBlock("norm1", layerNorm());
    attn1 = addChildBlock("attn1", attention(settings));
    ppeg7 = addChildBlock("ppeg7", depthwise(dim, 7));
    ppeg5 = addChildBlock("ppeg5", depthwise(dim, 5));
    ppeg3 = addChildBlock("ppeg3", depthwise(dim, 3));
    norm2 = addChildBlock("norm2", layerNorm());
    attn2 = addChildBlock("attn2", attention(settings));
    norm = addChildBlock("norm", layerNorm());
  }

  private static LayerNorm layerNorm() {
    return LayerNorm.builder().axis(1).optEpsilon(1e-5f).build();
  }

  private static NystromAttention attention(ZooSettings.TransMil s) {
    return new NystromAttention(s.dim(), s.heads(), s.landmarks(), s.pinvIterations(), s.residualKernel());
  }

  private static Conv2d depthwise(int dim, int kernel) {
    return Conv2d.builder().setKernelShape(new Shape(kernel, kernel)).optPadding(new Shape(kernel / 2, kernel / 2))
        .setFilters(dim).optGroups(dim).build();
  }

  @Override
  NDList pool(ParameterStore ps, NDArray h, boolean training) {
    int n = Math.toIntExact(h.getShape().get(0));
    int dim = settings.dim();
    NDArray x = Activation.relu(fc.forward(ps, new NDList(h), training).singletonOrThrow()); // (N,dim)
    int side = (int) Math.ceil(Math.sqrt(n));
    int extra = side * side - n;
    if (extra > 0) {
      x = x.concat(x.get("0:" + extra), 0);
    }
    x = ps.getValue(cls, x.getDevice(), training).concat(x, 0); // (1+S, dim)
    x = x.add(forward(attn1, ps, forward(norm1, ps, x, training), training));
    NDArray token = x.get("0:1");
    NDArray image = x.get("1:").transpose().reshape(1, dim, side, side);
    NDArray mixed = image.add(forward(ppeg7, ps, image, training)).add(forward(ppeg5, ps, image, training))
        .add(forward(ppeg3, ps, image, training));
    x = token.concat(mixed.reshape(dim, side * side).transpose(), 0);
    x = x.add(forward(attn2, ps, forward(norm2, ps, x, training), training));
    NDArray embedding = forward(norm, ps, x, training).get("0:1");
    NDArray weights = h.getManager().full(new Shape(n), 1f / n, h.getDataType(), h.getDevice());
    return new NDList(embedding, weights);
  }

  private static NDArray forward(ai.djl.nn.Block block, ParameterStore ps, NDArray x, boolean training) {
    return block.forward(ps, new NDList(x), training).singletonOrThrow();
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return new Shape[] {new Shape(1, settings.dim()), new Shape(inputShapes[0].get(0))};
  }

  @Override
  protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
    int dim = settings.dim();
    Shape tokens = new Shape(inputShapes[0].get(0), dim);
    fc.initialize(manager, dataType, inputShapes[0]);
    for (var block : new ai.djl.nn.Block[] {norm1, attn1, norm2, attn2, norm}) {
      block.initialize(manager, dataType, tokens);
    }
    Shape image = new Shape(1, dim, 4, 4);
    for (Conv2d c : new Conv2d[] {ppeg7, ppeg5, ppeg3}) {
      c.initialize(manager, dataType, image);
    }
  }
}
