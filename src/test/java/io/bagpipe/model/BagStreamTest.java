package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** A bag fed to {@link BagStream} in chunks gives what {@link MilModel#forward} gives on the whole bag. */
class BagStreamTest {

  static final int N = 23;
  static final int P = 32;

  @ParameterizedTest
  @EnumSource(value = PoolingKind.class, names = {"ATTENTION", "GATED_ATTENTION", "MEAN", "MAX"})
  void chunkedBagEqualsTheFullBagForward(PoolingKind pooling) {
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(new ModelSettings(new EncoderSpec.MilCnnS(), pooling, 16, 3, 7), manager, P);
      NDArray bag = ModelFixtures.uniform(manager, 11, -2f, 2f, N, 3, P, P);
      float[] logits;
      float[] weights;
      boolean gradMode = JniUtils.isGradMode();
      JniUtils.setGradMode(false);
      try {
        NDList full = model.forward(new ParameterStore(manager, false), new NDList(bag), false);
        logits = MilModel.logits(full).toFloatArray();
        weights = MilModel.weights(full).toFloatArray();
      } finally {
        JniUtils.setGradMode(gradMode);
      }
      for (int chunk : new int[] {1, 5, 8, N}) {
        BagStream stream = new BagStream(model, manager);
        for (int from = 0; from < N; from += chunk) {
          try (NDManager scope = manager.newSubManager()) {
            NDArray part = bag.get(from + ":" + Math.min(N, from + chunk));
            part.attach(scope);
            stream.add(part);
          }
        }
        BagOutput out = stream.finish();
        assertEquals(N, stream.patches());
        assertArrayEquals(logits, out.logits(), 1e-5f, pooling + " logits, chunks of " + chunk);
        assertArrayEquals(weights, out.weights(), 1e-5f, pooling + " weights, chunks of " + chunk);
        double total = 0;
        for (float w : out.weights()) {
          total += w;
        }
        assertEquals(1.0, total, 1e-5);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(value = PoolingKind.class, names = {"ATTENTION", "MAX"})
  void anEmptyBagHasNoResult(PoolingKind pooling) {
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(new ModelSettings(new EncoderSpec.MilCnnS(), pooling, 16, 2, 7), manager, P);
      assertThrows(IllegalStateException.class, () -> new BagStream(model, manager).finish());
    }
  }

  @ParameterizedTest
  @EnumSource(value = PoolingKind.class, names = {"CLAM_SB", "CLAM_MB", "MAX_INSTANCE", "TRANSMIL", "DSMIL"})
  void theZooIsRefusedNamingThePooling(PoolingKind pooling) {
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = MilModel.build(new ModelSettings(new EncoderSpec.MilCnnS(), pooling, 16, 2, 7), manager, P);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new BagStream(model, manager));
      assertTrue(e.getMessage().contains(pooling.configName()) && e.getMessage().contains("bagpipe.model.pooling"),
          e.getMessage());
    }
  }
}
