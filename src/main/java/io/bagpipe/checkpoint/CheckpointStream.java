package io.bagpipe.checkpoint;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * A checkpoint as a stream, for sending a replica's state to a worker that joins a
 * running run: no file, no seeking, read as it arrives. Layout: magic
 * {@code BPSTATE1}, the run state in the checkpoint's text form, the parameter and
 * optimizer tensors (name, shape, little-endian floats), and a CRC32C of everything
 * before it, so a cut or garbled transfer is an error, never a half-loaded replica.
 */
public final class CheckpointStream {

  private static final byte[] MAGIC = "BPSTATE1".getBytes(StandardCharsets.US_ASCII);
  private static final int CHUNK_FLOATS = 1 << 16;

  private CheckpointStream() {}

  /** Writes {@code c} to {@code out} (buffered here; flushed, not closed). */
  public static void write(Checkpoint c, OutputStream out) throws IOException {
    CRC32C crc = new CRC32C();
    DataOutputStream d = new DataOutputStream(new CheckedOutputStream(new BufferedOutputStream(out, 1 << 20), crc));
    d.write(MAGIC);
    byte[] state = CheckpointFile.stateText(c.state()).getBytes(StandardCharsets.UTF_8);
    d.writeInt(state.length);
    d.write(state);
    writeTensors(d, c.parameters());
    writeTensors(d, c.optimizerState());
    d.flush();
    new DataOutputStream(out).writeLong(crc.getValue());
    out.flush();
  }

  /**
   * Reads a checkpoint written by {@link #write}; {@code source} names where it came
   * from in errors.
   *
   * @throws IOException when the stream is cut, garbled or not a checkpoint stream
   */
  public static Checkpoint read(InputStream in, String source) throws IOException {
    CRC32C crc = new CRC32C();
    BufferedInputStream buffered = new BufferedInputStream(in, 1 << 20);
    DataInputStream d = new DataInputStream(new CheckedInputStream(buffered, crc));
    try {
      byte[] magic = new byte[MAGIC.length];
      d.readFully(magic);
      if (!Arrays.equals(magic, MAGIC)) {
        throw new IOException(source + ": not a Bagpipe state stream");
      }
      int stateLength = d.readInt();
      if (stateLength < 0 || stateLength > 1 << 24) {
        throw new IOException(source + ": bad run state length " + stateLength);
      }
      byte[] state = new byte[stateLength];
      d.readFully(state);
      RunState s = CheckpointFile.parseState(new String(state, StandardCharsets.UTF_8), java.nio.file.Path.of(source));
      List<NamedTensor> parameters = readTensors(d, source);
      List<NamedTensor> optimizer = readTensors(d, source);
      long expected = crc.getValue();
      long got = new DataInputStream(buffered).readLong();
      if (got != expected) {
        throw new IOException(source + ": checksum mismatch (" + Long.toHexString(got) + " sent, "
            + Long.toHexString(expected) + " received): the state arrived damaged");
      }
      return new Checkpoint(s, parameters, optimizer);
    } catch (EOFException e) {
      throw new IOException(source + ": the state stream ended early (the sender stopped?)", e);
    }
  }

  private static void writeTensors(DataOutputStream d, List<NamedTensor> tensors) throws IOException {
    d.writeInt(tensors.size());
    ByteBuffer b = ByteBuffer.allocate(CHUNK_FLOATS * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    for (NamedTensor t : tensors) {
      d.writeUTF(t.name());
      d.writeInt(t.shape().length);
      for (long dim : t.shape()) {
        d.writeLong(dim);
      }
      float[] data = t.data();
      for (int i = 0; i < data.length; i += CHUNK_FLOATS) {
        int n = Math.min(CHUNK_FLOATS, data.length - i);
        b.clear();
        b.asFloatBuffer().put(data, i, n);
        d.write(b.array(), 0, n * Float.BYTES);
      }
    }
  }

  private static List<NamedTensor> readTensors(DataInputStream d, String source) throws IOException {
    int count = d.readInt();
    if (count < 0 || count > 1 << 20) {
      throw new IOException(source + ": bad tensor count " + count);
    }
    List<NamedTensor> out = new ArrayList<>(count);
    byte[] chunk = new byte[CHUNK_FLOATS * Float.BYTES];
    for (int k = 0; k < count; k++) {
      String name = d.readUTF();
      int rank = d.readInt();
      if (rank < 0 || rank > 16) {
        throw new IOException(source + ": tensor " + name + " has a bad rank " + rank);
      }
      long[] shape = new long[rank];
      long n = 1;
      for (int i = 0; i < rank; i++) {
        shape[i] = d.readLong();
        if (shape[i] < 0 || (n *= shape[i]) > Integer.MAX_VALUE - 8) {
          throw new IOException(source + ": tensor " + name + " has a bad shape " + Arrays.toString(shape));
        }
      }
      float[] data = new float[(int) n];
      for (int i = 0; i < data.length; i += CHUNK_FLOATS) {
        int m = Math.min(CHUNK_FLOATS, data.length - i);
        d.readFully(chunk, 0, m * Float.BYTES);
        ByteBuffer.wrap(chunk, 0, m * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data, i, m);
      }
      out.add(new NamedTensor(name, shape, data));
    }
    return out;
  }
}
