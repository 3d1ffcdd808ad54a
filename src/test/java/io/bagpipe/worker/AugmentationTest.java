package io.bagpipe.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.bagpipe.bag.BagRef;
import io.bagpipe.cli.ConfigOptions;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.OptimizerSettings;
import io.bagpipe.model.LrSchedule;
import com.typesafe.config.Config;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Seeded on-device augmentation: reproducible, exact for flips and turns, identity at zero strength. */
class AugmentationTest {

  static final int N = 24;
  static final int P = 5;

  static float[] patches() {
    float[] x = new float[N * 3 * P * P];
    for (int i = 0; i < x.length; i++) {
      x[i] = ((i * 7919) % 997) / 996f * 0.98f + 0.01f; // in [0.01, 0.99], all different per patch
    }
    return x;
  }

  @Test
  void theSameSeedAndBagGiveTheSameTensorAndAnotherBagAnother() {
    AugmentSettings all = new AugmentSettings(true, true, 0.05, 0.1, 0.1);
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray x = m.create(patches(), new Shape(N, 3, P, P));
      float[] a = new Augmentation(all, 42).apply(x, 3, 77).toFloatArray();
      float[] b = new Augmentation(all, 42).apply(x, 3, 77).toFloatArray();
      assertArrayEquals(a, b);
      assertFalse(Arrays.equals(a, new Augmentation(all, 42).apply(x, 3, 78).toFloatArray()), "another bag");
      assertFalse(Arrays.equals(a, new Augmentation(all, 43).apply(x, 3, 77).toFloatArray()), "another seed");
      assertFalse(Arrays.equals(a, new Augmentation(all, 42).apply(x, 4, 77).toFloatArray()), "another epoch");
    }
  }

  @Test
  void flipsAndTurnsAreExactPermutationsAsDrawn() {
    Augmentation aug = new Augmentation(new AugmentSettings(true, true, 0, 0, 0), 9);
    float[] in = patches();
    try (NDManager m = NDManager.newBaseManager()) {
      float[] out = aug.apply(m.create(in, new Shape(N, 3, P, P)), 1, 5).toFloatArray();
      Set<Integer> seen = new HashSet<>();
      for (int n = 0; n < N; n++) {
        Augmentation.Draw d = aug.draw(1, 5, n);
        seen.add(d.group());
        for (int c = 0; c < 3; c++) {
          for (int y = 0; y < P; y++) {
            for (int x = 0; x < P; x++) {
              // Where output pixel (y, x) comes from: undo the turns, then the flips.
              int sy = y;
              int sx = x;
              for (int k = 0; k < d.quarterTurns(); k++) {
                // torch.rot90(k=1, dims (2,3)): out[y][x] = in[x][P-1-y]
                int ty = sx;
                int tx = P - 1 - sy;
                sy = ty;
                sx = tx;
              }
              if (d.flipY()) {
                sy = P - 1 - sy;
              }
              if (d.flipX()) {
                sx = P - 1 - sx;
              }
              int o = ((n * 3 + c) * P + y) * P + x;
              int i = ((n * 3 + c) * P + sy) * P + sx;
              assertEquals(in[i], out[o], 0f, "patch " + n + " " + d);
            }
          }
        }
      }
      assertTrue(seen.size() > 4, "24 patches should see several flips and turns: " + seen);
      float[] a = in.clone();
      float[] b = out.clone();
      Arrays.sort(a);
      Arrays.sort(b);
      assertArrayEquals(a, b, "a permutation of the values");
    }
  }

  @Test
  void hedJitterAtScaleOneAndShiftZeroIsTheIdentity() {
    float[] in = patches();
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray x = m.create(in, new Shape(N, 3, P, P));
      NDArray same = Augmentation.hed(x, m.ones(new Shape(N, 3, 1)), m.zeros(new Shape(N, 3, 1)));
      assertArrayEquals(in, same.toFloatArray(), 2e-5f);
      NDArray changed = Augmentation.hed(x, m.full(new Shape(N, 3, 1), 1.1f), m.zeros(new Shape(N, 3, 1)));
      assertFalse(Arrays.equals(in, changed.toFloatArray()));
      // Strength 0 with nothing else on: no change at all, not even rounding.
      Augmentation off = new Augmentation(new AugmentSettings(false, false, 0, 0, 0), 1);
      assertSame(x, off.apply(x, 0, 0));
    }
  }

  @Test
  void theStainMatrixInverseIsAnInverse() {
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        double s = 0;
        for (int k = 0; k < 3; k++) {
          s += Augmentation.RGB_FROM_HED[i][k] * Augmentation.HED_FROM_RGB[k][j];
        }
        assertEquals(i == j ? 1 : 0, s, 1e-12);
      }
    }
  }

  @Test
  void badStrengthsAreNamed() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new AugmentSettings(false, false, 1.5, 0, 0));
    assertTrue(e.getMessage().contains("bagpipe.augment.hed-strength"), e.getMessage());
  }

  @Test
  void aReplicaAugmentsTrainingBagsTheSameWayEverywhereAndClipsTheAverage() {
    Config c = ConfigOptions.defaults(List.of());
    ModelSettings model = ModelSettings.fromConfig(c.getConfig("bagpipe.model"));
    OptimizerSettings opt = OptimizerSettings.fromConfig(c.getConfig("bagpipe.optimizer"));
    WorkerSettings w = WorkerSettings.fromConfig(c.getConfig("bagpipe.worker"), 0);
    TrainingHabits habits = new TrainingHabits(new LrSchedule(LrSchedule.Kind.STEP, 0, 1, 2, 0.5, 0), 1e-3,
        new float[] {1f, 2f}, new AugmentSettings(true, true, 0.05, 0.1, 0.1), 5);
    int p = DjlReplicaTest.P;
    try (DjlReplica a = new DjlReplica(model, opt, w, "cpu", p, habits);
        DjlReplica b = new DjlReplica(model, opt, w, "cpu", p, habits);
        DjlReplica plain = new DjlReplica(model, opt, w, "cpu", p)) {
      float[] g = new float[a.gradientLength()];
      float[] h = new float[a.gradientLength()];
      for (int step = 0; step < 3; step++) {
        var bag = DjlReplicaTest.bag(4, 1);
        double la = a.accumulate(bag).loss();
        double lb = b.accumulate(bag).loss();
        assertEquals(la, lb, 0, "same augmentation and class weight on both replicas");
        a.gradient(g);
        b.gradient(h);
        assertArrayEquals(g, h);
        float[] before = g.clone();
        a.apply(g, step);
        b.apply(h, step);
        assertArrayEquals(before, g, "apply leaves the shared average alone");
        assertTrue(a.lastGradientNorm() > 1e-3, "the gradient was clipped: its norm exceeds clip-norm");
        assertEquals(step < 2 ? opt.lr() : opt.lr() * 0.5, a.lastLearningRate(), 1e-12, "step " + step);
      }
      assertEquals(a.parameterDigest(), b.parameterDigest());
      // Class weight 2 doubles the training loss of a class-1 bag; without augmentation the
      // plain replica sees the same pixels as in evaluation.
      var bag = DjlReplicaTest.bag(4, 1);
      double plainLoss = plain.accumulate(bag).loss();
      assertEquals(plain.evaluate(bag).loss(), plainLoss, 1e-4);
      assertNotEquals(plainLoss, a.evaluate(bag).loss());
    }
  }
}
