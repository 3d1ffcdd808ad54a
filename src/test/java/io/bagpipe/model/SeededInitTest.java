package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Seeded initial parameters: reproducible bit for bit, seed-dependent, PyTorch's distributions. */
class SeededInitTest {

  static float[] build(EncoderSpec encoder, PoolingKind pooling, long seed, NDManager manager) {
    return ModelFixtures.allValues(MilModel.build(ModelFixtures.settings(encoder, pooling, seed), manager, 64));
  }

  @ParameterizedTest
  @EnumSource(PoolingKind.class)
  void sameSeedSameBitsDifferentSeedDifferent(PoolingKind pooling) {
    try (NDManager a = NDManager.newBaseManager(); NDManager b = NDManager.newBaseManager()) {
      float[] first = build(new EncoderSpec.MilCnnS(), pooling, 42, a);
      float[] again = build(new EncoderSpec.MilCnnS(), pooling, 42, b);
      assertArrayEquals(first, again);
      float[] other = build(new EncoderSpec.MilCnnS(), pooling, 43, b);
      assertEquals(first.length, other.length);
      assertFalse(Arrays.equals(first, other));
    }
  }

  @Test
  void resNet18IsReproducibleAndBatchNormStartsAtIdentity() {
    try (NDManager a = NDManager.newBaseManager(); NDManager b = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(ModelFixtures.settings(new EncoderSpec.ResNet18(), PoolingKind.MEAN, 7), a, 64);
      assertArrayEquals(ModelFixtures.allValues(model),
          build(new EncoderSpec.ResNet18(), PoolingKind.MEAN, 7, b));
      int batchNorms = 0;
      for (Pair<String, Parameter> p : model.getParameters()) {
        float[] v = p.getValue().getArray().toFloatArray();
        switch (p.getValue().getType()) {
          case GAMMA, RUNNING_VAR -> {
            batchNorms++;
            for (float x : v) {
              assertEquals(1f, x, p.getKey());
            }
          }
          case BETA, RUNNING_MEAN -> {
            for (float x : v) {
              assertEquals(0f, x, p.getKey());
            }
          }
          default -> { }
        }
      }
      assertEquals(2 * 20, batchNorms); // 20 BatchNorms, gamma + running var each
    }
  }

  @Test
  void weightsAndBiasesAreUniformWithinOneOverSqrtFanIn() {
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(
          ModelFixtures.settings(new EncoderSpec.MilCnnS(), PoolingKind.ATTENTION, 1), manager, 64);
      for (Pair<String, Parameter> p : model.getParameters()) {
        String name = p.getKey().replaceAll("(^|_)\\d\\d", "$1"); // "01encoder_01Conv2d_weight" -> "encoder_Conv2d_weight"
        String position = p.getKey().substring(p.getKey().indexOf('_') + 1, p.getKey().indexOf('_') + 3);
        long fanIn = name.startsWith("encoder_") && position.equals("01") ? 3 * 25
            : name.startsWith("encoder_") && position.equals("04") ? 16 * 9
            : name.startsWith("encoder_") && position.equals("07") ? 32 * 9
            : name.startsWith("pooling_V") || name.startsWith("head") ? 64
            : name.startsWith("pooling_w") ? 32 : -1;
        assertTrue(fanIn > 0, "unexpected parameter " + name);
        double bound = 1 / Math.sqrt(fanIn);
        float[] v = p.getValue().getArray().toFloatArray();
        double max = 0;
        for (float x : v) {
          assertTrue(Math.abs(x) <= bound, name + " value " + x + " beyond " + bound);
          max = Math.max(max, Math.abs(x));
        }
        if (v.length >= 32) {
          assertTrue(max > 0.8 * bound, name + " does not fill its range: " + max + " of " + bound);
        }
      }
    }
  }
}
