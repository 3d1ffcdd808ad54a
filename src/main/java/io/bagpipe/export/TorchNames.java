package io.bagpipe.export;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Maps a Bagpipe (DJL) parameter name of a checkpoint to the state-dict name of the same tensor in
 * {@code bagpipe_mil.py}'s {@code BagpipeMil} module. DJL names a parameter by the path of blocks
 * to it, each block prefixed with its 1-based position among its siblings
 * ({@code 01encoder_05ParallelBlock_01SequentialBlock_02BatchNorm_gamma}); the Python module
 * follows torchvision, so the ResNet names are torchvision's ({@code encoder.layer1.0.bn1.weight}).
 *
 * <ul>
 *   <li>MIL-CNN-S: {@code 01encoder_NNConv2d_weight} is {@code encoder.(NN-1).weight}, an index
 *       into the Python {@code nn.Sequential} (0, 3, 6).
 *   <li>ResNet: top-level block 01 is {@code conv1}, 02 {@code bn1}; residual block k (05 on) is
 *       {@code layerS.B} counting blocks per stage; inside it the main branch's
 *       convolutions and BatchNorms are {@code conv1 bn1 conv2 bn2 [conv3 bn3]} and the shortcut's
 *       {@code downsample.0} / {@code downsample.1}.
 *   <li>BatchNorm {@code gamma beta runningMean runningVar} are {@code weight bias running_mean
 *       running_var}.
 *   <li>Pooling {@code 02pooling_NNX_weight} is {@code pooling.X.weight}, nested blocks too
 *       ({@code 02pooling_01att_01V_weight} is {@code pooling.att.V.weight}); a numbered block is an
 *       index into a {@code ModuleList} ({@code 02pooling_05inst1_bias} is {@code pooling.inst.1.bias});
 *       LayerNorm's {@code gamma} / {@code beta} are {@code weight} / {@code bias}, TransMIL's class
 *       token {@code 02pooling_cls} is {@code pooling.cls}; the head {@code 03head_weight} is
 *       {@code head.weight}.
 * </ul>
 * Conv2d weights are OIHW and Linear weights (out, in) in both, so values are copied unchanged.
 */
final class TorchNames {

  private static final Pattern MIL_CNN_S = Pattern.compile("01encoder_(\\d\\d)Conv2d_(weight|bias)");
  private static final Pattern RESNET_STEM = Pattern.compile("01encoder_(01Conv2d|02BatchNorm)_(\\w+)");
  private static final Pattern RESNET_BLOCK =
      Pattern.compile("01encoder_(\\d\\d)ParallelBlock_(01|02)SequentialBlock_(\\d\\d)(Conv2d|BatchNorm)_(\\w+)");
  private static final Pattern POOLING = Pattern.compile("02pooling_\\d\\d(V|U|w)_(weight|bias)");
  private static final Pattern HEAD = Pattern.compile("03head_(weight|bias)");
  private static final Pattern ZOO_POOLING =
      Pattern.compile("02pooling_((?:\\d\\d[A-Za-z][A-Za-z0-9]*_)*)(weight|bias|gamma|beta|cls)");
  private static final Pattern ZOO_BLOCK = Pattern.compile("\\d\\d(?:(inst)(\\d+)|([A-Za-z][A-Za-z0-9]*))");

  private TorchNames() {}

  /**
   * The state-dict name of {@code djl} for a model with {@code encoder} ({@code mil-cnn-s},
   * {@code resnet18} or {@code resnet50}).
   *
   * @throws IllegalArgumentException when the name does not belong to such a model
   */
  static String of(String djl, String encoder) {
    Matcher m = POOLING.matcher(djl);
    if (m.matches()) {
      return "pooling." + m.group(1) + "." + m.group(2);
    }
    m = HEAD.matcher(djl);
    if (m.matches()) {
      return "head." + m.group(1);
    }
    m = ZOO_POOLING.matcher(djl);
    if (m.matches()) { // 02pooling_01att_01V_weight: pooling.att.V.weight; 02pooling_05inst1_bias: pooling.inst.1.bias
      StringBuilder name = new StringBuilder("pooling");
      for (String block : m.group(1).isEmpty() ? new String[0] : m.group(1).split("_")) {
        Matcher b = ZOO_BLOCK.matcher(block);
        if (!b.matches()) {
          throw new IllegalArgumentException("parameter " + djl + " has an unknown pooling block " + block);
        }
        if (b.group(1) != null) { // CLAM's per-class instance classifiers: an nn.ModuleList
          name.append(".inst.").append(Integer.parseInt(b.group(2)));
        } else {
          name.append('.').append(b.group(3));
        }
      }
      String leaf = switch (m.group(2)) { // LayerNorm's gamma and beta are PyTorch's weight and bias
        case "gamma" -> "weight";
        case "beta" -> "bias";
        default -> m.group(2);
      };
      return name.append('.').append(leaf).toString();
    }
    switch (encoder) {
      case "mil-cnn-s" -> {
        m = MIL_CNN_S.matcher(djl);
        if (m.matches()) {
          return "encoder." + (Integer.parseInt(m.group(1)) - 1) + "." + m.group(2);
        }
      }
      case "resnet18", "resnet50" -> {
        boolean bottleneck = encoder.equals("resnet50");
        m = RESNET_STEM.matcher(djl);
        if (m.matches()) {
          return m.group(1).equals("01Conv2d") ? "encoder.conv1." + leaf(m.group(2), false, djl)
              : "encoder.bn1." + leaf(m.group(2), true, djl);
        }
        m = RESNET_BLOCK.matcher(djl);
        if (m.matches()) {
          String layer = layer(Integer.parseInt(m.group(1)) - 5, bottleneck ? new int[] {3, 4, 6, 3} : new int[] {2, 2, 2, 2}, djl);
          int position = Integer.parseInt(m.group(3));
          boolean bn = m.group(4).equals("BatchNorm");
          String module;
          if (m.group(2).equals("02")) { // shortcut: conv, BatchNorm
            module = "downsample." + (position - 1);
          } else { // main: conv bn relu conv bn [relu conv bn]
            int unit = (position - 1) / 3 + 1;
            module = (bn ? "bn" : "conv") + unit;
          }
          return "encoder." + layer + "." + module + "." + leaf(m.group(5), bn, djl);
        }
      }
      default -> throw new IllegalArgumentException("cannot export encoder " + encoder
          + ": export supports mil-cnn-s, resnet18 and resnet50");
    }
    throw new IllegalArgumentException("parameter " + djl + " does not belong to a " + encoder + " model");
  }

  /** {@code layerS.B} of residual block {@code index} (0-based over all stages). */
  private static String layer(int index, int[] blocks, String djl) {
    int i = index;
    for (int stage = 0; stage < blocks.length; stage++) {
      if (i >= 0 && i < blocks[stage]) {
        return "layer" + (stage + 1) + "." + i;
      }
      i -= blocks[stage];
    }
    throw new IllegalArgumentException("parameter " + djl + " names residual block " + index + ", beyond the model's");
  }

  private static String leaf(String djl, boolean batchNorm, String full) {
    if (!batchNorm && (djl.equals("weight") || djl.equals("bias"))) {
      return djl;
    }
    if (batchNorm) {
      switch (djl) {
        case "gamma" -> {
          return "weight";
        }
        case "beta" -> {
          return "bias";
        }
        case "runningMean" -> {
          return "running_mean";
        }
        case "runningVar" -> {
          return "running_var";
        }
        default -> { }
      }
    }
    throw new IllegalArgumentException("parameter " + full + " has an unknown leaf " + djl);
  }
}
