package io.bagpipe.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.bagpipe.bag.BagRef;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.cli.ConfigOptions;
import io.bagpipe.loader.DecodedBag;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.OptimizerSettings;
import com.typesafe.config.Config;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

class DjlReplicaTest {

  static final Config CONFIG = ConfigOptions.defaults(List.of());
  static final int P = 16;

  static DjlReplica replica() {
    return new DjlReplica(ModelSettings.fromConfig(CONFIG.getConfig("bagpipe.model")),
        OptimizerSettings.fromConfig(CONFIG.getConfig("bagpipe.optimizer")),
        WorkerSettings.fromConfig(CONFIG.getConfig("bagpipe.worker"), 0), "cpu", P);
  }

  static DecodedBag bag(int patches, int label) {
    ByteBuffer px = ByteBuffer.allocateDirect(patches * P * P * 3);
    for (int i = 0; px.hasRemaining(); i++) {
      px.put((byte) (i * 37 + 11));
    }
    return DecodedBag.inMemory(new BagRef("s", "s.tif", label, new int[2 * patches], P, 0, 0, 1), px);
  }

  @Test
  void uploadScalesAndNormalisesEachChannelIntoNchw() {
    WorkerSettings w = WorkerSettings.fromConfig(CONFIG.getConfig("bagpipe.worker"), 0);
    DecodedBag b = bag(2, 0);
    try (DjlReplica r = replica(); NDManager m = NDManager.newBaseManager()) {
      NDArray x = r.upload(m, b);
      assertEquals(new ai.djl.ndarray.types.Shape(2, 3, P, P), x.getShape());
      ByteBuffer px = b.pixels();
      for (int n : new int[] {0, 1}) {
        for (int c = 0; c < 3; c++) {
          for (int[] yx : new int[][] {{0, 0}, {3, 7}, {P - 1, P - 1}}) {
            int v = px.get(((n * P + yx[0]) * P + yx[1]) * 3 + c) & 0xFF;
            float want = (v / 255f - w.mean()[c]) / w.std()[c];
            assertEquals(want, x.getFloat(n, c, yx[0], yx[1]), 1e-5, "patch " + n + " channel " + c);
          }
        }
      }
    }
  }

  @Test
  void loadRestoresParametersAndOptimizerAndRejectsAnotherModel() {
    try (DjlReplica a = replica(); DjlReplica b = replica()) {
      float[] g = new float[a.gradientLength()];
      for (int i = 0; i < 3; i++) {
        a.accumulate(bag(3, i % 2));
        a.gradient(g);
        a.apply(g, i);
      }
      assertNotEquals(a.parameterDigest(), b.parameterDigest());
      b.load(a.parameters(), a.optimizerState());
      assertEquals(a.parameterDigest(), b.parameterDigest());
      // The same next step on both gives the same parameters: optimizer state came along.
      for (DjlReplica r : List.of(a, b)) {
        r.accumulate(bag(3, 1));
        r.gradient(g);
        r.apply(g, 3);
      }
      assertEquals(a.parameterDigest(), b.parameterDigest());
      List<NamedTensor> wrong = List.of(new NamedTensor("nope", new long[] {1}, new float[1]));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.load(wrong, List.of()));
      assertEquals(true, e.getMessage().contains("bagpipe.model"), e.getMessage());
    }
  }
}
