package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code bagpipe.model.freeze-encoder}: after training steps the encoder's parameters (BatchNorm
 * running statistics included) are bit-identical, the pooling's and head's moved, and the encoder
 * has no place in the flat gradient or the optimizer state.
 */
class FrozenEncoderTest {

  static Stream<EncoderSpec> encoders() {
    return Stream.of(new EncoderSpec.MilCnnS(), new EncoderSpec.ResNet18(),
        new EncoderSpec.TorchScript(ModelFixtures.TINY_TORCHSCRIPT));
  }

  @ParameterizedTest
  @MethodSource("encoders")
  void encoderStaysBitIdenticalWhileTheAggregatorLearns(EncoderSpec encoder) {
    try (NDManager manager = NDManager.newBaseManager()) {
      ModelSettings settings = ModelFixtures.settings(encoder, PoolingKind.ATTENTION, 3).withFreezeEncoder(true);
      MilModel model = MilModel.build(settings, manager, 32);
      assertTrue(model.encoderFrozen());
      float[] encoderBefore = ModelFixtures.allValues(model.encoder());
      float[] poolingBefore = ModelFixtures.allValues(model.pooling());
      float[] headBefore = ModelFixtures.allValues(model.head());
      try (TrainingStep step = new TrainingStep(model, OptimizerTest.SGD)) {
        for (String name : step.parameters().names()) {
          assertFalse(name.startsWith("01encoder"), "encoder parameter " + name + " is trainable");
        }
        assertEquals(ModelFixtures.trainableCount(model.pooling()) + ModelFixtures.trainableCount(model.head()),
            step.gradientSize());
        for (int i = 0; i < 3; i++) {
          step.forwardBackward(ModelFixtures.uniform(manager, i, -1, 1, 3, 3, 32, 32), i % 2);
          step.applyOptimizer();
        }
        for (String buffer : step.optimizer().state().buffers().keySet()) {
          assertFalse(buffer.startsWith("01encoder"), "optimizer state for the encoder: " + buffer);
        }
      }
      assertArrayEquals(encoderBefore, ModelFixtures.allValues(model.encoder()), 0f,
          "frozen encoder (running statistics included) changed");
      assertFalse(java.util.Arrays.equals(poolingBefore, ModelFixtures.allValues(model.pooling())),
          "pooling did not learn");
      assertFalse(java.util.Arrays.equals(headBefore, ModelFixtures.allValues(model.head())), "head did not learn");
      // every parameter is still there for checkpoints
      List<String> all = new ArrayList<>();
      for (Pair<String, Parameter> p : model.getParameters()) {
        all.add(p.getKey());
      }
      assertTrue(all.stream().anyMatch(n -> n.startsWith("01encoder")));
    }
  }

  @ParameterizedTest
  @MethodSource("encoders")
  void unfrozenEncoderStillTrains(EncoderSpec encoder) {
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(ModelFixtures.settings(encoder, PoolingKind.ATTENTION, 3), manager, 32);
      float[] before = ModelFixtures.allValues(model.encoder());
      try (TrainingStep step = new TrainingStep(model, OptimizerTest.SGD)) {
        step.forwardBackward(ModelFixtures.uniform(manager, 1, -1, 1, 3, 3, 32, 32), 1);
        step.applyOptimizer();
      }
      assertFalse(java.util.Arrays.equals(before, ModelFixtures.allValues(model.encoder())));
    }
  }
}
