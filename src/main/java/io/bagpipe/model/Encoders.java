package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.pooling.Pool;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.JniUtils;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Patch encoders: DJL blocks mapping a normalised float batch of patches (N,3,H,W) to features
 * (N,D).
 *
 * <p>The ResNets are assembled here because DJL's {@code ResNetV1} is not torchvision's (its
 * "18 layers" switch to bottleneck blocks and have 0.9 M parameters). These follow torchvision:
 * 7x7/2 stem convolution without bias, BatchNorm, ReLU, 3x3/2 max pool; basic blocks [2,2,2,2]
 * (ResNet-18) or bottleneck blocks [3,4,6,3] with expansion 4 and the stride on the 3x3
 * convolution (ResNet-50 v1.5); a 1x1 convolution + BatchNorm on the shortcut where the shape
 * changes; global average pooling; no fc. Their trainable parameter counts equal torchvision's
 * without fc (BatchNorm running mean and variance are DJL parameters too, but do not require
 * gradients, as they are buffers in PyTorch). BatchNorm uses PyTorch's eps 1e-5 and momentum
 * 0.1.
 */
public final class Encoders {

  private Encoders() {}

  /**
   * Builds the encoder {@code spec} names, uninitialised (except a TorchScript module, whose
   * parameters come from its file).
   *
   * @param manager owns a TorchScript module; unused for the other encoders
   */
  public static Block create(EncoderSpec spec, NDManager manager) {
    return switch (spec) {
      case EncoderSpec.MilCnnS() -> milCnnS();
      case EncoderSpec.ResNet18() -> resNet18();
      case EncoderSpec.ResNet50() -> resNet50();
      case EncoderSpec.TorchScript(Path path) -> torchScript(path, manager);
      case EncoderSpec.Features(int dim) -> Blocks.identityBlock();
    };
  }

  /**
   * MIL-CNN-S, the peer's patch CNN: conv(3->16,k5,s2,p2) ReLU MaxPool2, conv(16->32,k3,s2,p1)
   * ReLU MaxPool2, conv(32->64,k3,s2,p1) ReLU, global average pool: 64-d.
   */
  public static Block milCnnS() {
    return new SequentialBlock()
        .add(conv(16, 5, 2, 2, true))
        .add(Activation.reluBlock())
        .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
        .add(conv(32, 3, 2, 1, true))
        .add(Activation.reluBlock())
        .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
        .add(conv(64, 3, 2, 1, true))
        .add(Activation.reluBlock())
        .add(Pool.globalAvgPool2dBlock());
  }

  /** torchvision's ResNet-18 without fc: 512-d features. */
  public static Block resNet18() {
    return resNet(false, new int[] {2, 2, 2, 2});
  }

  /** torchvision's ResNet-50 (v1.5) without fc: 2048-d features. */
  public static Block resNet50() {
    return resNet(true, new int[] {3, 4, 6, 3});
  }

  /**
   * Loads a TorchScript module whose forward maps (N,3,H,W) to (N,D). Its parameters require
   * gradients, so it is fine-tuned with the rest of the model; it belongs to {@code manager} and
   * is freed with it.
   *
   * @throws IllegalArgumentException if the file does not exist
   */
  public static Block torchScript(Path path, NDManager manager) {
    if (!Files.isRegularFile(path)) {
      throw new IllegalArgumentException("TorchScript encoder " + path.toAbsolutePath()
          + " does not exist (bagpipe.model.torchscript-path)");
    }
    if (!(manager instanceof PtNDManager pt)) {
      throw new IllegalArgumentException("a TorchScript encoder needs the PyTorch engine, got "
          + manager.getEngine().getEngineName());
    }
    PtSymbolBlock block = JniUtils.loadModule(pt, path.toAbsolutePath(), true, new String[0], new String[0], true);
    block.freezeParameters(false);
    return block;
  }

  private static Block resNet(boolean bottleneck, int[] layers) {
    SequentialBlock net = new SequentialBlock()
        .add(conv(64, 7, 2, 3, false))
        .add(batchNorm())
        .add(Activation.reluBlock())
        .add(Pool.maxPool2dBlock(new Shape(3, 3), new Shape(2, 2), new Shape(1, 1)));
    int in = 64;
    int[] widths = {64, 128, 256, 512};
    for (int stage = 0; stage < layers.length; stage++) {
      for (int b = 0; b < layers[stage]; b++) {
        int stride = stage > 0 && b == 0 ? 2 : 1;
        int out = bottleneck ? widths[stage] * 4 : widths[stage];
        net.add(residual(bottleneck, in, widths[stage], out, stride));
        in = out;
      }
    }
    return net.add(Pool.globalAvgPool2dBlock());
  }

  private static Block residual(boolean bottleneck, int in, int width, int out, int stride) {
    SequentialBlock main = new SequentialBlock();
    if (bottleneck) {
      main.add(conv(width, 1, 1, 0, false)).add(batchNorm()).add(Activation.reluBlock())
          .add(conv(width, 3, stride, 1, false)).add(batchNorm()).add(Activation.reluBlock())
          .add(conv(out, 1, 1, 0, false)).add(batchNorm());
    } else {
      main.add(conv(width, 3, stride, 1, false)).add(batchNorm()).add(Activation.reluBlock())
          .add(conv(out, 3, 1, 1, false)).add(batchNorm());
    }
    Block shortcut = stride != 1 || in != out
        ? new SequentialBlock().add(conv(out, 1, stride, 0, false)).add(batchNorm())
        : Blocks.identityBlock();
    return new ParallelBlock(Encoders::addRelu, List.of(main, shortcut));
  }

  private static NDList addRelu(List<NDList> branches) {
    NDArray sum = branches.get(0).singletonOrThrow().add(branches.get(1).singletonOrThrow());
    return new NDList(Activation.relu(sum));
  }

  private static Block conv(int filters, int kernel, int stride, int padding, boolean bias) {
    return Conv2d.builder()
        .setFilters(filters)
        .setKernelShape(new Shape(kernel, kernel))
        .optStride(new Shape(stride, stride))
        .optPadding(new Shape(padding, padding))
        .optBias(bias)
        .build();
  }

  private static Block batchNorm() {
    return BatchNorm.builder().optEpsilon(1e-5f).optMomentum(0.9f).build();
  }
}
