package io.bagpipe.export;

import io.bagpipe.serialization.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes the safetensors format: an 8-byte little-endian header length, a JSON header mapping
 * each tensor name to its {@code dtype}, {@code shape} and {@code data_offsets} (begin, end) in
 * the data that follows, plus an optional {@code __metadata__} map of strings; then the tensors'
 * raw little-endian bytes, one after the other in the order given. The header is padded with
 * spaces to a multiple of 8 bytes so the data starts aligned. Tensors are streamed through a
 * 1 MiB buffer, so writing needs no copy of the model.
 */
public final class SafeTensors {

  private static final int CHUNK = 1 << 20;

  private SafeTensors() {}

  /** One tensor to write: float32 ({@code F32}) or int64 ({@code I64}) values in row-major order. */
  public sealed interface Tensor {
    /** The tensor's name in the header. */
    String name();

    /** Dimensions; a scalar has none. */
    long[] shape();

    /** Number of values. */
    int size();

    /** The safetensors dtype. */
    String dtype();

    /** Bytes per value. */
    int width();
  }

  /** A float32 tensor; {@code data} is not copied. */
  public record F32(String name, long[] shape, float[] data) implements Tensor {
    public F32 {
      check(name, shape, data.length);
    }

    @Override
    public int size() {
      return data.length;
    }

    @Override
    public String dtype() {
      return "F32";
    }

    @Override
    public int width() {
      return 4;
    }
  }

  /** An int64 tensor; {@code data} is not copied. */
  public record I64(String name, long[] shape, long[] data) implements Tensor {
    public I64 {
      check(name, shape, data.length);
    }

    @Override
    public int size() {
      return data.length;
    }

    @Override
    public String dtype() {
      return "I64";
    }

    @Override
    public int width() {
      return 8;
    }
  }

  private static void check(String name, long[] shape, int size) {
    Objects.requireNonNull(name, "name");
    if (name.isEmpty() || name.equals("__metadata__")) {
      throw new IllegalArgumentException("bad tensor name \"" + name + "\"");
    }
    long product = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("tensor " + name + " has a negative dimension in " + Arrays.toString(shape));
      }
      product *= d;
    }
    if (product != size) {
      throw new IllegalArgumentException("tensor " + name + " has shape " + Arrays.toString(shape) + " but " + size
          + " values");
    }
  }

  /**
   * Writes {@code tensors} (names unique) and {@code metadata} to {@code file}, replacing it.
   *
   * @throws IllegalArgumentException when two tensors share a name
   */
  public static void write(Path file, List<? extends Tensor> tensors, Map<String, String> metadata) throws IOException {
    byte[] header = header(tensors, metadata);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
      buf.putLong(header.length);
      buf.flip();
      writeFully(ch, buf);
      writeFully(ch, ByteBuffer.wrap(header));
      buf.clear();
      for (Tensor t : tensors) {
        for (int i = 0; i < t.size(); i++) {
          if (buf.remaining() < 8) {
            buf.flip();
            writeFully(ch, buf);
            buf.clear();
          }
          switch (t) {
            case F32 f -> buf.putFloat(f.data()[i]);
            case I64 l -> buf.putLong(l.data()[i]);
          }
        }
      }
      buf.flip();
      writeFully(ch, buf);
      ch.force(true);
    }
  }

  /** The JSON header, space-padded to a multiple of 8 bytes. */
  static byte[] header(List<? extends Tensor> tensors, Map<String, String> metadata) {
    StringBuilder b = new StringBuilder("{");
    if (!metadata.isEmpty()) {
      b.append("\"__metadata__\":{");
      boolean first = true;
      for (var e : metadata.entrySet()) {
        Json.string(b.append(first ? "" : ","), e.getKey()).append(':');
        Json.string(b, e.getValue());
        first = false;
      }
      b.append('}');
    }
    Set<String> names = new HashSet<>();
    long offset = 0;
    for (Tensor t : tensors) {
      if (!names.add(t.name())) {
        throw new IllegalArgumentException("two tensors are named " + t.name());
      }
      long end = offset + (long) t.size() * t.width();
      Json.string(b.append(b.length() > 1 ? "," : ""), t.name()).append(":{\"dtype\":\"").append(t.dtype())
          .append("\",\"shape\":[");
      for (int i = 0; i < t.shape().length; i++) {
        b.append(i == 0 ? "" : ",").append(t.shape()[i]);
      }
      b.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
      offset = end;
    }
    b.append('}');
    while (b.toString().getBytes(StandardCharsets.UTF_8).length % 8 != 0) {
      b.append(' ');
    }
    return b.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }
}
