package io.bagpipe.model;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Which patch encoder a {@link MilModel} uses ({@code bagpipe.model.encoder}). Every encoder maps a
 * normalised float batch of patches (N,3,H,W) to features (N,D); {@link Encoders#create} builds
 * it.
 */
public sealed interface EncoderSpec {

  /** The peer's small CNN, MIL-CNN-S: 64-d features, 24,352 parameters. */
  record MilCnnS() implements EncoderSpec {}

  /** torchvision's ResNet-18 without its fc layer: 512-d features, 11,176,512 parameters. */
  record ResNet18() implements EncoderSpec {}

  /** torchvision's ResNet-50 (v1.5) without its fc layer: 2048-d features, 23,508,032 parameters. */
  record ResNet50() implements EncoderSpec {}

  /**
   * A TorchScript module read from a file; its parameters come from the file (not from the seed)
   * and are trained with the rest of the model.
   *
   * @param path the TorchScript file ({@code bagpipe.model.torchscript-path})
   */
  record TorchScript(Path path) implements EncoderSpec {
    public TorchScript {
      Objects.requireNonNull(path, "path");
    }
  }

  /**
   * No encoder: the bag arrives as precomputed features (N,D) of a frozen encoder (feature files,
   * {@code bagpipe.data.features}), and only pooling and head exist to train.
   *
   * @param dim D, features per patch
   */
  record Features(int dim) implements EncoderSpec {
    public Features {
      if (dim < 1) {
        throw new IllegalArgumentException("features need D >= 1, got " + dim);
      }
    }
  }

  /**
   * The encoder named in configuration.
   *
   * @param name {@code mil-cnn-s}, {@code resnet18}, {@code resnet50} or {@code torchscript}
   * @param torchScriptPath the file for {@code torchscript}, ignored otherwise
   * @throws IllegalArgumentException for any other name, or torchscript without a path
   */
  /** The name {@link #named} takes: {@code mil-cnn-s}, {@code resnet18}, {@code resnet50} or {@code torchscript}. */
  default String name() {
    return switch (this) {
      case MilCnnS m -> "mil-cnn-s";
      case ResNet18 r -> "resnet18";
      case ResNet50 r -> "resnet50";
      case TorchScript t -> "torchscript";
      case Features f -> "features";
    };
  }

  static EncoderSpec named(String name, String torchScriptPath) {
    return switch (name) {
      case "mil-cnn-s" -> new MilCnnS();
      case "resnet18" -> new ResNet18();
      case "resnet50" -> new ResNet50();
      case "torchscript" -> {
        if (torchScriptPath == null || torchScriptPath.isBlank()) {
          throw new IllegalArgumentException(
              "encoder = torchscript needs bagpipe.model.torchscript-path to name a TorchScript file");
        }
        yield new TorchScript(Path.of(torchScriptPath));
      }
      case "features" -> throw new IllegalArgumentException("this model was trained on feature files"
          + " (bagpipe.data.features) and has no patch encoder; run it on feature files, or train end to end");
      default -> throw new IllegalArgumentException(
          "unknown encoder \"" + name + "\": use mil-cnn-s, resnet18, resnet50 or torchscript");
    };
  }
}
