package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The optimizers against a hand-written reference of PyTorch's formulas (every step, buffers
 * included) and against final values recorded once from torch 1.13's torch.optim (5 steps on 8
 * values, gradients g_k[i] = (((7i + 3k) mod 11) - 5) / 10, start w[i] = 0.1 (i - 3.5)). Novograd's
 * final values come from MONAI's update written out in torch 2 (Debian's python3-torch), with the
 * weight (6 values) and the bias (2) as its two layers; {@code NovogradTorchTest} reruns it live.
 */
class OptimizerTest {

  static final int N = 8;
  static final int STEPS = 5;

  static final OptimizerSettings SGD = new OptimizerSettings(OptimizerKind.SGD, 0.01, 0.9, 1e-4, 0.9, 0.999, 1e-8);
  static final OptimizerSettings ADAM = new OptimizerSettings(OptimizerKind.ADAM, 0.01, 0, 1e-2, 0.9, 0.999, 1e-8);
  static final OptimizerSettings ADAMW = new OptimizerSettings(OptimizerKind.ADAMW, 0.01, 0, 0.1, 0.9, 0.999, 1e-8);

  static final OptimizerSettings NOVOGRAD =
      new OptimizerSettings(OptimizerKind.NOVOGRAD, 0.01, 0, 1e-3, 0.95, 0.98, 1e-8, false);
  static final OptimizerSettings NOVOGRAD_AVERAGING =
      new OptimizerSettings(OptimizerKind.NOVOGRAD, 0.01, 0, 1e-3, 0.95, 0.98, 1e-8, true);

  static final float[] TORCH_NOVOGRAD = {-0.321601093f, -0.27671048f, -0.146690264f, -0.0649305061f, 0.0403104313f,
      0.170330644f, 0.226630792f, 0.364744335f};
  static final float[] TORCH_NOVOGRAD_AVERAGING = {-0.348580003f, -0.251335591f, -0.149834514f, -0.0507465675f,
      0.0495154969f, 0.151016578f, 0.248831481f, 0.350737214f};
  /** The layers of the 8 values: the Linear's weight, then its bias. */
  static final int[][] LAYERS = {{0, 6}, {6, 8}};

  static final float[] TORCH_SGD = {-0.328951985f, -0.27025184f, -0.147486851f, -0.0608577766f, 0.04288828f,
      0.165653303f, 0.241282344f, 0.356028348f};
  static final float[] TORCH_ADAM = {-0.321773291f, -0.279461116f, -0.138963312f, -0.0662735552f, 0.0300192051f,
      0.174439698f, 0.237074092f, 0.340859979f};
  static final float[] TORCH_ADAMW = {-0.32036972f, -0.278359562f, -0.138478547f, -0.0660339072f, 0.0298780669f,
      0.173817828f, 0.236134738f, 0.349513173f};

  static float[] start() {
    float[] w = new float[N];
    for (int i = 0; i < N; i++) {
      w[i] = (float) (0.1 * (i - 3.5));
    }
    return w;
  }

  static float[] grad(int k) {
    float[] g = new float[N];
    for (int i = 0; i < N; i++) {
      g[i] = (float) ((((i * 7 + k * 3) % 11) - 5) / 10.0);
    }
    return g;
  }

  /** A Linear(3->2) block: weight (2,3) and bias (2) are the 8 values, with gradients defined. */
  static TrainableParameters tinyParameters(NDManager manager) {
    Linear linear = Linear.builder().setUnits(2).build();
    linear.initialize(manager, DataType.FLOAT32, new Shape(1, 3));
    try (GradientCollector gc = Engine.getInstance().newGradientCollector();
        NDManager scope = manager.newSubManager()) {
      var out = linear.forward(new ParameterStore(manager, false), new NDList(scope.ones(new Shape(1, 3))), true);
      gc.backward(out.singletonOrThrow().sum());
    }
    TrainableParameters p = new TrainableParameters(linear);
    assertEquals(N, p.size());
    p.writeValues(start());
    return p;
  }

  /** Hand-written PyTorch formulas in float arithmetic, one step; {@code s} holds buffers and the step. */
  static void reference(OptimizerSettings o, float[] w, float[] g0, float[][] s, int t) {
    if (o.kind() == OptimizerKind.NOVOGRAD) {
      // s[1][l] is layer l's second moment of the gradient norm.
      for (int l = 0; l < LAYERS.length; l++) {
        float norm = 0;
        for (int i = LAYERS[l][0]; i < LAYERS[l][1]; i++) {
          norm += g0[i] * g0[i];
        }
        s[1][l] = s[1][l] == 0 ? norm : (float) o.beta2() * s[1][l] + (float) (1 - o.beta2()) * norm;
        float denom = (float) Math.sqrt(s[1][l]) + (float) o.eps();
        for (int i = LAYERS[l][0]; i < LAYERS[l][1]; i++) {
          float d = g0[i] / denom + (float) o.weightDecay() * w[i];
          if (o.gradAveraging()) {
            d *= (float) (1 - o.beta1());
          }
          s[0][i] = (float) o.beta1() * s[0][i] + d;
          w[i] = w[i] - (float) o.lr() * s[0][i];
        }
      }
      return;
    }
    for (int i = 0; i < N; i++) {
      float g = g0[i];
      switch (o.kind()) {
        case SGD -> {
          g = g + (float) o.weightDecay() * w[i];
          s[0][i] = t == 1 ? g : (float) o.momentum() * s[0][i] + g;
          w[i] = w[i] - (float) o.lr() * s[0][i];
        }
        case NOVOGRAD -> throw new IllegalStateException("per layer, above");
        case ADAM, ADAMW -> {
          if (o.kind() == OptimizerKind.ADAMW) {
            w[i] = w[i] * (float) (1 - o.lr() * o.weightDecay());
          } else {
            g = g + (float) o.weightDecay() * w[i];
          }
          s[0][i] = (float) o.beta1() * s[0][i] + (float) (1 - o.beta1()) * g;
          s[1][i] = (float) o.beta2() * s[1][i] + (float) (1 - o.beta2()) * g * g;
          double bc1 = 1 - Math.pow(o.beta1(), t);
          double bc2 = 1 - Math.pow(o.beta2(), t);
          float denom = (float) Math.sqrt(s[1][i]) / (float) Math.sqrt(bc2) + (float) o.eps();
          w[i] = w[i] - (float) (o.lr() / bc1) * (s[0][i] / denom);
        }
      }
    }
  }

  static OptimizerSettings settings(OptimizerKind kind) {
    return switch (kind) {
      case SGD -> SGD;
      case ADAM -> ADAM;
      case ADAMW -> ADAMW;
      case NOVOGRAD -> NOVOGRAD;
    };
  }

  @ParameterizedTest
  @EnumSource(OptimizerKind.class)
  void matchesReferenceFormulasAndTorchEveryStep(OptimizerKind kind) {
    OptimizerSettings o = settings(kind);
    try (NDManager manager = NDManager.newBaseManager()) {
      TrainableParameters p = tinyParameters(manager);
      float[] w = start();
      float[][] s = new float[2][N];
      try (Optimizer opt = Optimizer.create(o, p)) {
        for (int k = 0; k < STEPS; k++) {
          p.writeGradients(grad(k));
          opt.step();
          reference(o, w, grad(k), s, k + 1);
          float[] actual = new float[N];
          p.readValues(actual);
          assertArrayEquals(w, actual, 1e-6f, kind + " step " + (k + 1));
          OptimizerState state = opt.state();
          assertEquals(k + 1, state.step());
          if (kind == OptimizerKind.SGD) {
            assertArrayEquals(s[0], concat(state, "momentum_buffer"), 1e-6f, "momentum buffer");
          } else if (kind == OptimizerKind.NOVOGRAD) {
            assertArrayEquals(s[0], concat(state, "exp_avg"), 1e-6f, "exp_avg");
            assertArrayEquals(new float[] {s[1][0], s[1][1]}, concat(state, "exp_avg_sq"), 1e-6f, "exp_avg_sq");
          } else {
            assertArrayEquals(s[0], concat(state, "exp_avg"), 1e-6f, "exp_avg");
            assertArrayEquals(s[1], concat(state, "exp_avg_sq"), 1e-9f, "exp_avg_sq");
          }
        }
        float[] actual = new float[N];
        p.readValues(actual);
        float[] torch = switch (kind) {
          case SGD -> TORCH_SGD;
          case ADAM -> TORCH_ADAM;
          case ADAMW -> TORCH_ADAMW;
          case NOVOGRAD -> TORCH_NOVOGRAD;
        };
        assertArrayEquals(torch, actual, 1e-6f, kind + " vs torch.optim");
      }
    }
  }

  @Test
  void novogradWithGradAveragingMatchesReferenceAndTorch() {
    try (NDManager manager = NDManager.newBaseManager()) {
      TrainableParameters p = tinyParameters(manager);
      float[] w = start();
      float[][] s = new float[2][N];
      try (Optimizer opt = Optimizer.create(NOVOGRAD_AVERAGING, p)) {
        for (int k = 0; k < STEPS; k++) {
          p.writeGradients(grad(k));
          opt.step();
          reference(NOVOGRAD_AVERAGING, w, grad(k), s, k + 1);
        }
        float[] actual = new float[N];
        p.readValues(actual);
        assertArrayEquals(w, actual, 1e-6f, "reference");
        assertArrayEquals(TORCH_NOVOGRAD_AVERAGING, actual, 1e-6f, "torch");
        // The gradients are left as they were (MONAI divides them in place).
        float[] g = new float[N];
        p.readGradients(g);
        assertArrayEquals(grad(STEPS - 1), g, "gradient after the step");
      }
    }
  }

  @Test
  void novogradKeepsOneSecondMomentPerLayerAndRejectsAWrongSize() {
    try (NDManager manager = NDManager.newBaseManager()) {
      TrainableParameters p = tinyParameters(manager);
      try (Optimizer opt = Optimizer.create(NOVOGRAD, p)) {
        p.writeGradients(grad(0));
        opt.step();
        assertEquals(1, opt.state().buffers().get("weight.exp_avg_sq").length);
        assertEquals(6, opt.state().buffers().get("weight.exp_avg").length);
        assertThrows(IllegalArgumentException.class,
            () -> opt.load(new OptimizerState(1, Map.of("weight.exp_avg_sq", new float[6]))));
      }
    }
  }

  @Test
  void learningRateCanBeChangedBetweenSteps() {
    OptimizerSettings plain = new OptimizerSettings(OptimizerKind.SGD, 0.5, 0, 0, 0.9, 0.999, 1e-8);
    try (NDManager manager = NDManager.newBaseManager()) {
      TrainableParameters p = tinyParameters(manager);
      try (Optimizer opt = Optimizer.create(plain, p)) {
        assertEquals(0.5, opt.learningRate());
        opt.learningRate(0.125);
        p.writeGradients(grad(0));
        opt.step();
        float[] actual = new float[N];
        p.readValues(actual);
        for (int i = 0; i < N; i++) {
          assertEquals(start()[i] - 0.125f * grad(0)[i], actual[i], 1e-7f);
        }
        assertThrows(IllegalArgumentException.class, () -> opt.learningRate(Double.NaN));
      }
    }
  }

  static float[] concat(OptimizerState state, String buffer) {
    float[] weight = state.buffers().get("weight." + buffer);
    float[] bias = state.buffers().get("bias." + buffer);
    float[] all = new float[weight.length + bias.length];
    System.arraycopy(weight, 0, all, 0, weight.length);
    System.arraycopy(bias, 0, all, weight.length, bias.length);
    return all;
  }

  @ParameterizedTest
  @EnumSource(OptimizerKind.class)
  void restoringStateContinuesExactlyAsUninterrupted(OptimizerKind kind) {
    OptimizerSettings o = settings(kind);
    try (NDManager manager = NDManager.newBaseManager()) {
      TrainableParameters p = tinyParameters(manager);
      float[] uninterrupted = new float[N];
      try (Optimizer opt = Optimizer.create(o, p)) {
        for (int k = 0; k < STEPS; k++) {
          p.writeGradients(grad(k));
          opt.step();
        }
        p.readValues(uninterrupted);
      }

      p.writeValues(start());
      OptimizerState saved;
      float[] savedValues = new float[N];
      try (Optimizer opt = Optimizer.create(o, p)) {
        for (int k = 0; k < 3; k++) {
          p.writeGradients(grad(k));
          opt.step();
        }
        saved = opt.state();
        p.readValues(savedValues);
        // The optimizer goes on after the snapshot: the snapshot must not follow it.
        p.writeGradients(grad(9));
        opt.step();
      }
      p.writeValues(savedValues);
      float[] resumed = new float[N];
      try (Optimizer opt = Optimizer.create(o, p)) {
        opt.load(saved);
        assertEquals(3, opt.steps());
        for (int k = 3; k < STEPS; k++) {
          p.writeGradients(grad(k));
          opt.step();
        }
        p.readValues(resumed);
      }
      assertArrayEquals(uninterrupted, resumed, kind + ": resumed run differs from the uninterrupted one");
    }
  }

  @Test
  void loadRejectsForeignOrMisSizedBuffers() {
    try (NDManager manager = NDManager.newBaseManager()) {
      TrainableParameters p = tinyParameters(manager);
      try (Optimizer opt = Optimizer.create(SGD, p)) {
        assertThrows(IllegalArgumentException.class,
            () -> opt.load(new OptimizerState(1, Map.of("nope.momentum_buffer", new float[6]))));
        assertThrows(IllegalArgumentException.class,
            () -> opt.load(new OptimizerState(1, Map.of("weight.momentum_buffer", new float[5]))));
        assertThrows(IllegalArgumentException.class,
            () -> opt.load(new OptimizerState(1, Map.of("weight.exp_avg", new float[6]))));
      }
    }
  }

  @Test
  void plainSgdWithoutMomentumKeepsNoBuffer() {
    OptimizerSettings plain = new OptimizerSettings(OptimizerKind.SGD, 0.5, 0, 0, 0.9, 0.999, 1e-8);
    try (NDManager manager = NDManager.newBaseManager()) {
      TrainableParameters p = tinyParameters(manager);
      try (Optimizer opt = Optimizer.create(plain, p)) {
        p.writeGradients(grad(0));
        opt.step();
        float[] actual = new float[N];
        p.readValues(actual);
        float[] w = start();
        float[] g = grad(0);
        for (int i = 0; i < N; i++) {
          assertEquals(w[i] - 0.5f * g[i], actual[i], 1e-7f);
        }
        assertEquals(Map.of(), opt.state().buffers());
      }
    }
  }
}
