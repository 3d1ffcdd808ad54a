package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The staged host copies a GPU replica uses (copy to a host tensor and back, in-place copy into the
 * device tensor) give the same bits as the CPU's direct views, over real training steps of a
 * ResNet-18 MIL model (BatchNorm statistics included). Staging is forced on the CPU here, so these
 * tests run the GPU path's code without a GPU.
 */
class HostCopiesTest {

  static final int SIDE = 32;
  static final int STEPS = 3;

  @AfterEach
  void backToDirect() {
    HostCopies.stageAlways(false);
  }

  /** What a few steps left behind: every flat gradient read, the statistics and the final parameters. */
  record Trace(List<float[]> gradients, List<float[]> statistics, float[] values) {}

  static Trace train(boolean staged) {
    HostCopies.stageAlways(staged);
    OptimizerSettings sgd = new OptimizerSettings(OptimizerKind.SGD, 0.05, 0.9, 1e-4, 0.9, 0.999, 1e-8);
    List<float[]> gradients = new ArrayList<>();
    List<float[]> statistics = new ArrayList<>();
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(ModelFixtures.settings(EncoderSpec.named("resnet18", null), PoolingKind.ATTENTION, 5),
          manager, SIDE);
      RunningStatistics stats = new RunningStatistics(model);
      try (TrainingStep step = new TrainingStep(model, sgd)) {
        stats.mark();
        for (int s = 0; s < STEPS; s++) {
          try (NDArray bag = ModelFixtures.uniform(manager, 100 + s, 0f, 1f, 3, 3, SIDE, SIDE)) {
            step.forwardBackward(bag, s % 2);
          }
          float[] g = new float[step.gradientSize()];
          step.readGradient(g);
          gradients.add(g.clone());
          for (int i = 0; i < g.length; i++) {
            g[i] *= 0.5f; // as an all-reduce average would replace it
          }
          step.writeGradient(g);
          float[] back = new float[g.length];
          step.readGradient(back);
          assertArrayEquals(g, back, "the written gradient is the one the optimizer will use");
          float[] change = new float[stats.size()];
          stats.readChange(change, 0, 2);
          for (int i = 0; i < change.length; i++) {
            change[i] /= 2;
          }
          stats.applyChange(change, 0);
          float[] now = new float[stats.size()];
          stats.read(now, 0);
          statistics.add(now);
          step.applyOptimizer();
        }
        float[] values = new float[step.parameters().size()];
        step.parameters().readValues(values);
        return new Trace(gradients, statistics, values);
      }
    }
  }

  @Test
  void stagedStepsGiveTheSameBitsAsDirectViews() {
    Trace direct = train(false);
    Trace staged = train(true);
    for (int s = 0; s < STEPS; s++) {
      assertArrayEquals(direct.gradients().get(s), staged.gradients().get(s), "gradient of step " + s);
      assertArrayEquals(direct.statistics().get(s), staged.statistics().get(s), "BatchNorm statistics after step " + s);
    }
    assertArrayEquals(direct.values(), staged.values(), "parameters after " + STEPS + " steps");
    assertTrue(direct.statistics().getFirst().length > 0, "ResNet-18 has BatchNorm statistics");
    assertNotEquals(0.0, Arrays.stream(box(direct.gradients().getLast())).mapToDouble(Float::doubleValue).map(Math::abs).sum(),
        "the steps produced gradients");
  }

  @Test
  void stagedWritesLandInTheTensorAndReadsLeaveItAlone() {
    HostCopies.stageAlways(true);
    try (NDManager manager = NDManager.newBaseManager()) {
      NDArray a = manager.create(new float[] {1, 2, 3, 4, 5, 6}, new ai.djl.ndarray.types.Shape(2, 3));
      assertFalse(HostCopies.direct(a));
      float[] src = {9, 9, -1, -2, -3, -4, -5, -6, 9};
      HostCopies.write(a, src, 2);
      HostCopies.stageAlways(false);
      assertArrayEquals(new float[] {-1, -2, -3, -4, -5, -6}, a.toFloatArray(), "written in place");
      HostCopies.stageAlways(true);
      float[] dst = new float[8];
      HostCopies.read(a, dst, 1);
      assertArrayEquals(new float[] {0, -1, -2, -3, -4, -5, -6, 0}, dst);
      assertEquals(-1f, a.getFloat(0, 0), "reading does not move or change the tensor");
    }
  }

  @Test
  void parameterValuesRoundTripThroughStagedWrites() {
    HostCopies.stageAlways(true);
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(ModelFixtures.settings(new EncoderSpec.MilCnnS(), PoolingKind.ATTENTION, 3), manager, SIDE);
      TrainableParameters p = new TrainableParameters(model);
      float[] v = new float[p.size()];
      p.readValues(v);
      float[] shifted = v.clone();
      for (int i = 0; i < shifted.length; i++) {
        shifted[i] += i % 7;
      }
      p.writeValues(shifted);
      float[] back = new float[p.size()];
      p.readValues(back);
      assertArrayEquals(shifted, back);
      HostCopies.stageAlways(false);
      float[] direct = new float[p.size()];
      p.readValues(direct);
      assertArrayEquals(shifted, direct, "the staged write changed the live tensors, not a copy");
    }
  }

  private static Float[] box(float[] v) {
    Float[] out = new Float[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = v[i];
    }
    return out;
  }
}
