package io.bagpipe.checkpoint;

import java.util.Arrays;
import java.util.Objects;

/**
 * One named float32 tensor of a checkpoint: a model parameter or a piece of
 * optimizer state, in row-major order.
 *
 * <p>{@code shape} and {@code data} are not copied (a model's parameters run to
 * hundreds of megabytes): whoever builds a tensor hands over its arrays and nobody
 * writes to them afterwards. Equality compares the arrays' contents, floats as
 * {@link Arrays#equals(float[], float[])} does ({@code -0.0 != 0.0}, every NaN equal).
 *
 * @param name unique within its list, e.g. {@code "encoder.fc.weight"}
 * @param shape dimensions, each {@code >= 0}; a scalar has shape {@code []}
 * @param data {@code product(shape)} values
 */
public record NamedTensor(String name, long[] shape, float[] data) {

  public NamedTensor {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(shape, "shape");
    Objects.requireNonNull(data, "data");
    if (name.isEmpty()) {
      throw new IllegalArgumentException("tensor name must not be empty");
    }
    long tooMany = Integer.MAX_VALUE + 1L; // more elements than any float[] holds
    long product = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("tensor " + name + " has a negative dimension in shape " + Arrays.toString(shape));
      }
      product = d != 0 && product > tooMany / d ? tooMany : product * d;
    }
    if (product != data.length) {
      throw new IllegalArgumentException("tensor " + name + " has shape " + Arrays.toString(shape) + " ("
          + (product >= tooMany ? "too many" : product) + " elements) but " + data.length + " values");
    }
  }

  /** A one-dimensional tensor over {@code data}. */
  public static NamedTensor vector(String name, float[] data) {
    return new NamedTensor(name, new long[] {data.length}, data);
  }

  /** Number of elements. */
  public int size() {
    return data.length;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof NamedTensor t && name.equals(t.name) && Arrays.equals(shape, t.shape) && Arrays.equals(data, t.data);
  }

  @Override
  public int hashCode() {
    return (name.hashCode() * 31 + Arrays.hashCode(shape)) * 31 + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return "NamedTensor[" + name + " " + Arrays.toString(shape) + "]";
  }
}
