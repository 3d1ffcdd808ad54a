package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Encoder and model shapes for every encoder x pooling, and parameter counts against PyTorch
 * (numbers from torch 1.13 / torchvision: sum of numel of parameters, fc left out for ResNets).
 */
class EncodersTest {

  @Test
  void milCnnSHasThePeersParameterCount() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Block encoder = Encoders.milCnnS();
      encoder.initialize(manager, DataType.FLOAT32, new Shape(2, 3, 224, 224));
      assertEquals(24_352, ModelFixtures.trainableCount(encoder));
      // The whole peer model: encoder + attention V 64->32, w 32->1 + Linear(64->2).
      MilModel model = MilModel.build(ModelFixtures.settings(new EncoderSpec.MilCnnS(), PoolingKind.ATTENTION, 0),
          manager, 224);
      assertEquals(26_595, ModelFixtures.trainableCount(model));
      assertEquals(26_595, new TrainableParameters(model).size());
    }
  }

  @Test
  void resNet18MatchesTorchvisionWithoutFc() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Block encoder = Encoders.resNet18();
      encoder.initialize(manager, DataType.FLOAT32, new Shape(2, 3, 64, 64));
      assertEquals(11_176_512, ModelFixtures.trainableCount(encoder));
      assertEquals(60, new TrainableParameters(encoder).count());
      assertEquals(new Shape(2, 512), encoder.getOutputShapes(new Shape[] {new Shape(2, 3, 64, 64)})[0]);
    }
  }

  @Test
  void resNet50MatchesTorchvisionWithoutFc() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Block encoder = Encoders.resNet50();
      encoder.initialize(manager, DataType.FLOAT32, new Shape(2, 3, 64, 64));
      assertEquals(23_508_032, ModelFixtures.trainableCount(encoder));
      assertEquals(159, new TrainableParameters(encoder).count());
    }
  }

  static List<Arguments> combinations() {
    List<Arguments> all = new ArrayList<>();
    EncoderSpec[] encoders = {new EncoderSpec.MilCnnS(), new EncoderSpec.ResNet18(), new EncoderSpec.ResNet50(),
        new EncoderSpec.TorchScript(ModelFixtures.TINY_TORCHSCRIPT)};
    long[] dims = {64, 512, 2048, 6};
    for (int e = 0; e < encoders.length; e++) {
      for (PoolingKind p : PoolingKind.values()) {
        all.add(Arguments.of(encoders[e], p, dims[e]));
      }
    }
    return all;
  }

  @ParameterizedTest(name = "{0} + {1}")
  @MethodSource("combinations")
  void shapes(EncoderSpec encoder, PoolingKind pooling, long features) {
    boolean resNet = encoder instanceof EncoderSpec.ResNet18 || encoder instanceof EncoderSpec.ResNet50;
    int n = resNet ? 2 : 4; // small bags of 32x32 patches keep the ResNets cheap
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(new ModelSettings(encoder, pooling, 16, 3, 1), manager, 32);
      NDArray bag = ModelFixtures.uniform(manager, 5, 0, 1, n, 3, 32, 32);
      ParameterStore ps = new ParameterStore(manager, false);
      NDArray h = model.encoder().forward(ps, new NDList(bag), false).singletonOrThrow();
      assertEquals(new Shape(n, features), h.getShape());
      for (boolean training : new boolean[] {false, true}) {
        NDList out = model.forward(ps, new NDList(bag), training);
        assertEquals(new Shape(1, 3), MilModel.logits(out).getShape());
        assertEquals(new Shape(n), MilModel.weights(out).getShape());
        assertEquals(1.0, MilModel.weights(out).sum().getFloat(), 1e-5);
      }
      assertEquals(new Shape(1, 3), model.getOutputShapes(new Shape[] {bag.getShape()})[0]);
    }
  }
}
