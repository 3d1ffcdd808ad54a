package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The TorchScript encoder gives what PyTorch gave for the same module and input (recorded by
 * src/test/resources/io/bagpipe/model/make_tiny_encoder.py with torch 1.13), and is trainable.
 */
class TorchScriptEncoderTest {

  static NDArray fixedInput(NDManager manager) {
    float[] x = new float[2 * 3 * 16 * 16];
    for (int i = 0; i < x.length; i++) {
      x[i] = ((i % 17) - 8) / 8f;
    }
    return manager.create(x, new Shape(2, 3, 16, 16));
  }

  static float[] expected() throws IOException {
    List<String> lines = Files.readAllLines(ModelFixtures.resource("tiny-encoder-expected.txt")).stream()
        .filter(l -> !l.startsWith("#") && !l.isBlank())
        .toList();
    float[] f = new float[lines.size()];
    for (int i = 0; i < f.length; i++) {
      f[i] = Float.parseFloat(lines.get(i));
    }
    assertEquals(12, f.length);
    return f;
  }

  @Test
  void outputEqualsRecordedPyTorchOutput() throws IOException {
    try (NDManager manager = NDManager.newBaseManager()) {
      Block encoder = Encoders.torchScript(ModelFixtures.TINY_TORCHSCRIPT, manager);
      NDArray y = encoder.forward(new ParameterStore(manager, false), new NDList(fixedInput(manager)), false)
          .singletonOrThrow();
      assertEquals(new Shape(2, 6), y.getShape());
      assertArrayEquals(expected(), y.toFloatArray(), 1e-5f);
    }
  }

  @Test
  void insideAMilModelItsParametersTrainAndKeepTheirLoadedValues() throws IOException {
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(ModelFixtures.settings(
          new EncoderSpec.TorchScript(ModelFixtures.TINY_TORCHSCRIPT), PoolingKind.ATTENTION, 3), manager, 16);
      // the seed did not overwrite the module's weights
      NDArray y = model.encoder().forward(new ParameterStore(manager, false), new NDList(fixedInput(manager)), false)
          .singletonOrThrow();
      assertArrayEquals(expected(), y.toFloatArray(), 1e-5f);

      try (TrainingStep step = new TrainingStep(model, OptimizerTest.SGD)) {
        TrainableParameters p = step.parameters();
        // conv 4x3x3x3 + 4, fc 6x4 + 6; attention 6->32->1; head 6->2
        assertEquals(112 + 30 + (6 * 32 + 32) + 33 + 14, p.size());
        float[] before = new float[p.size()];
        p.readValues(before);
        step.forwardBackward(fixedInput(manager), 1);
        step.applyOptimizer();
        float[] after = new float[p.size()];
        p.readValues(after);
        assertNotEquals(before[0], after[0], "the TorchScript conv weight did not move");
      }
    }
  }

  @Test
  void missingFileNamesTheKey() {
    try (NDManager manager = NDManager.newBaseManager()) {
      var e = assertThrows(IllegalArgumentException.class,
          () -> Encoders.torchScript(Path.of("/nonexistent/encoder.pt"), manager));
      assertEquals(true, e.getMessage().contains("bagpipe.model.torchscript-path"));
    }
  }
}
