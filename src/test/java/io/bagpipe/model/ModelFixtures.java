package io.bagpipe.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.nio.file.Path;
import java.util.Random;

/** Small helpers shared by the model tests. */
final class ModelFixtures {

  private ModelFixtures() {}

  static final Path TINY_TORCHSCRIPT = resource("tiny-encoder.pt");

  static Path resource(String name) {
    try {
      return Path.of(ModelFixtures.class.getResource(name).toURI());
    } catch (Exception e) {
      throw new IllegalStateException("test resource " + name + " missing", e);
    }
  }

  static ModelSettings settings(EncoderSpec encoder, PoolingKind pooling, long seed) {
    return new ModelSettings(encoder, pooling, 32, 2, seed);
  }

  /** Uniform [lo, hi) values from a seeded java.util.Random, as an NDArray of {@code shape}. */
  static NDArray uniform(NDManager manager, long seed, float lo, float hi, long... shape) {
    Shape s = new Shape(shape);
    float[] v = new float[Math.toIntExact(s.size())];
    Random r = new Random(seed);
    for (int i = 0; i < v.length; i++) {
      v[i] = lo + (hi - lo) * r.nextFloat();
    }
    return manager.create(v, s);
  }

  /** Values of all parameters (trainable or not), in order, concatenated. */
  static float[] allValues(ai.djl.nn.Block block) {
    int n = 0;
    for (Pair<String, Parameter> p : block.getParameters()) {
      n += Math.toIntExact(p.getValue().getArray().size());
    }
    float[] all = new float[n];
    int off = 0;
    for (Pair<String, Parameter> p : block.getParameters()) {
      float[] v = p.getValue().getArray().toFloatArray();
      System.arraycopy(v, 0, all, off, v.length);
      off += v.length;
    }
    return all;
  }

  /** Number of parameter values that require gradients. */
  static long trainableCount(ai.djl.nn.Block block) {
    long n = 0;
    for (Pair<String, Parameter> p : block.getParameters()) {
      if (p.getValue().requiresGradient()) {
        n += p.getValue().getArray().size();
      }
    }
    return n;
  }
}
