package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Deterministic, PyTorch-like initial parameters from a seed, so that every worker and every run
 * with the same seed starts from bit-identical parameters without exchanging them.
 *
 * <p>DJL's initialisers draw from the engine's global generator ({@code Engine.setRandomSeed} is
 * process-wide PyTorch state shared by every thread), so instead each parameter is overwritten
 * from its own {@link SplittableRandom} seeded by (seed, parameter name): the values do not depend
 * on which parameters came before, on threads, or on other models in the process. The
 * distributions are PyTorch's defaults for {@code nn.Conv2d} and {@code nn.Linear}:
 * kaiming-uniform with a = sqrt(5), which is uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), for
 * weights, and the same bound for biases (fan_in of the sibling weight); BatchNorm weight
 * (gamma) 1, bias (beta) 0, running mean 0 and running variance 1. (torchvision's ResNets use
 * kaiming-normal fan-out for their convolutions; Bagpipe uses the PyTorch layer default for all.)
 */
public final class SeededInit {

  private SeededInit() {}

  /**
   * Overwrites every initialised parameter of {@code block} (float32, CPU) from {@code seed}.
   *
   * @throws IllegalStateException if a parameter is not initialised yet, or is not float32
   */
  public static void apply(Block block, long seed) {
    Map<String, Parameter> byName = new HashMap<>();
    for (Pair<String, Parameter> p : block.getParameters()) {
      byName.put(p.getKey(), p.getValue());
    }
    for (Pair<String, Parameter> p : block.getParameters()) {
      String name = p.getKey();
      Parameter param = p.getValue();
      if (!param.isInitialized()) {
        throw new IllegalStateException("parameter " + name + " is not initialised");
      }
      NDArray array = param.getArray();
      if (array.getDataType() != DataType.FLOAT32) {
        throw new IllegalStateException("parameter " + name + " is " + array.getDataType() + ", not float32");
      }
      float[] values = new float[Math.toIntExact(array.size())];
      switch (param.getType()) {
        case WEIGHT -> uniform(values, 1 / Math.sqrt(fanIn(array.getShape())), name, seed);
        case BIAS -> uniform(values, 1 / Math.sqrt(fanIn(sibling(byName, name).getArray().getShape())), name, seed);
        case GAMMA, RUNNING_VAR -> Arrays.fill(values, 1f);
        case BETA, RUNNING_MEAN -> Arrays.fill(values, 0f);
        default -> throw new IllegalStateException("parameter " + name + " has type " + param.getType()
            + ", which SeededInit does not know how to initialise");
      }
      write(array, values);
    }
  }

  /** Writes {@code values} into an array in place, on whatever device it lives. */
  static void write(NDArray array, float[] values) {
    HostCopies.write(array, values, 0);
  }

  private static Parameter sibling(Map<String, Parameter> byName, String biasName) {
    Parameter w = byName.get(biasName.substring(0, biasName.length() - "bias".length()) + "weight");
    if (w == null) {
      throw new IllegalStateException("no weight next to bias " + biasName + " to take fan_in from");
    }
    return w;
  }

  /** PyTorch's fan_in: input channels times the kernel's elements (shape[1] * prod(shape[2:])). */
  static long fanIn(Shape weight) {
    if (weight.dimension() < 2) {
      throw new IllegalStateException("weight of shape " + weight + " has no fan_in");
    }
    return weight.size() / weight.get(0);
  }

  private static void uniform(float[] values, double bound, String name, long seed) {
    SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode());
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) (bound * (2 * random.nextDouble() - 1));
    }
  }
}
