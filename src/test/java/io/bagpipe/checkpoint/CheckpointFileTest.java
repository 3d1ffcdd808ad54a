package io.bagpipe.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CheckpointFileTest {

  @TempDir Path dir;

  static Checkpoint sample(int epoch, long step, int n) {
    float[] big = new float[n];
    for (int i = 0; i < n; i++) {
      big[i] = (float) Math.sin(i * 0.001 + epoch * 7 + step);
    }
    float[] special = {
      Float.NaN, Float.intBitsToFloat(0x7fc00001), Float.intBitsToFloat(0xffbadbad), -0.0f, 0.0f,
      Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, -Float.MAX_VALUE, 1e-42f
    };
    RunState state = new RunState(epoch, step, epoch * 100L + step, 42, "val_auc", 0.8125, epoch,
        Map.of("model", "abmil", "odd key=x", "line\nbreak \\ back=slash é 🧫", "digest", ""));
    return new Checkpoint(state,
        List.of(new NamedTensor("encoder.weight", new long[] {2, 5}, special),
            new NamedTensor("big", new long[] {n}, big),
            new NamedTensor("scalar", new long[] {}, new float[] {3.5f}),
            new NamedTensor("empty", new long[] {0, 3}, new float[0])),
        List.of(new NamedTensor("adam.m.encoder.weight", new long[] {10}, special.clone()),
            NamedTensor.vector("adam.step", new float[] {17})));
  }

  static void assertBitExact(Checkpoint expected, Checkpoint actual) {
    assertEquals(expected.state(), actual.state());
    assertTensors(expected.parameters(), actual.parameters());
    assertTensors(expected.optimizerState(), actual.optimizerState());
  }

  private static void assertTensors(List<NamedTensor> expected, List<NamedTensor> actual) {
    assertEquals(expected.size(), actual.size());
    for (int t = 0; t < expected.size(); t++) {
      NamedTensor e = expected.get(t);
      NamedTensor a = actual.get(t);
      assertEquals(e.name(), a.name());
      assertArrayEquals(e.shape(), a.shape(), e.name());
      assertEquals(e.data().length, a.data().length, e.name());
      for (int i = 0; i < e.data().length; i++) {
        if (Float.floatToRawIntBits(e.data()[i]) != Float.floatToRawIntBits(a.data()[i])) {
          throw new AssertionError(e.name() + "[" + i + "]: expected bits " + Integer.toHexString(Float.floatToRawIntBits(e.data()[i]))
              + ", got " + Integer.toHexString(Float.floatToRawIntBits(a.data()[i])));
        }
      }
    }
  }

  private Path saved(Checkpoint c) throws IOException {
    return new CheckpointStore(dir, 2).saveLast(c);
  }

  @ParameterizedTest(name = "{0} floats")
  @ValueSource(ints = {0, 1, 262_143, 262_144, 600_001})
  void roundTripIsBitExact(int n) throws IOException {
    Checkpoint c = sample(3, 120, n);
    Path file = saved(c);
    assertEquals("epoch-0003-step-0000120.ckpt", file.getFileName().toString());
    Checkpoint back = CheckpointStore.read(file);
    assertBitExact(c, back);
    assertEquals(c, back);
  }

  @Test
  void noBestYetRoundTripsAsNaN() throws IOException {
    Checkpoint c = new Checkpoint(RunState.start(7, "val_loss", Map.of()), List.of(), List.of());
    Checkpoint back = CheckpointStore.read(saved(c));
    assertTrue(Double.isNaN(back.state().bestValue()));
    assertEquals(-1, back.state().bestEpoch());
    assertEquals(c, back);
  }

  @Test
  void runStateIsReadableText() throws IOException {
    String head = new String(Files.readAllBytes(saved(sample(1, 2, 4))), java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(head.startsWith("BAGPCKPT"));
    assertTrue(head.contains("epoch=1\nstep=2\nglobal-step=102\nseed=42\nbest-metric=val_auc\nbest-value=0.8125\n"), head);
    assertTrue(head.contains("extra.odd key\\=x=line\\nbreak \\\\ back\\=slash"), head);
  }

  @ParameterizedTest(name = "flipped in the {0}")
  @ValueSource(strings = {"header length", "run state", "tensor table", "middle", "last data byte"})
  void flippedByteIsDetectedAndNamesTheFile(String where) throws IOException {
    Path file = saved(sample(0, 1, 50_000));
    long size = Files.size(file);
    long at = switch (where) {
      case "header length" -> 13;
      case "run state" -> 30;
      case "tensor table" -> 300;
      case "middle" -> size / 2;
      default -> size - 17;
    };
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x10);
    }
    var e = assertThrows(CheckpointException.Corrupt.class, () -> CheckpointStore.read(file));
    assertEquals(file, e.file());
    assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("checksum mismatch"), e.getMessage());
  }

  @ParameterizedTest(name = "truncated to {0}")
  @ValueSource(doubles = {0, 0.001, 0.5, 0.9999})
  void truncationIsDetectedAndNamesTheFile(double keep) throws IOException {
    Path file = saved(sample(0, 1, 50_000));
    long size = Files.size(file);
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(Math.min(size - 1, (long) (size * keep)));
    }
    var e = assertThrows(CheckpointException.Corrupt.class, () -> CheckpointStore.read(file));
    assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("cut short") || e.getMessage().contains("truncated"), e.getMessage());
  }

  @Test
  void otherFormatVersionIsReportedAsSuch() throws IOException {
    Path file = saved(sample(0, 1, 10));
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(8);
      f.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(2).array());
    }
    var e = assertThrows(CheckpointException.Unsupported.class, () -> CheckpointStore.read(file));
    assertEquals(2, e.version());
    assertTrue(e.getMessage().startsWith(file + ": checkpoint format version 2, this build reads version 1"),
        e.getMessage());
  }

  @Test
  void foreignFileIsNotACheckpoint() throws IOException {
    Path file = dir.resolve("epoch-0000-step-0000001.ckpt");
    Files.write(file, new byte[100]);
    var e = assertThrows(CheckpointException.Corrupt.class, () -> CheckpointStore.read(file));
    assertTrue(e.getMessage().contains("bad magic"), e.getMessage());
  }

  @Test
  void tensorAndStateValidation() {
    assertThrows(IllegalArgumentException.class, () -> new NamedTensor("w", new long[] {2, 3}, new float[5]));
    assertThrows(IllegalArgumentException.class, () -> new NamedTensor("w", new long[] {-1}, new float[0]));
    assertThrows(IllegalArgumentException.class, () -> new NamedTensor("", new long[] {1}, new float[1]));
    var e = assertThrows(IllegalArgumentException.class,
        () -> new NamedTensor("w", new long[] {1L << 40, 1L << 40}, new float[1]));
    assertTrue(e.getMessage().contains("too many"), e.getMessage());
    new NamedTensor("w", new long[] {1L << 40, 0}, new float[0]);
    assertEquals(new NamedTensor("w", new long[] {1}, new float[] {Float.NaN}),
        new NamedTensor("w", new long[] {1}, new float[] {Float.NaN}));
    var t = NamedTensor.vector("w", new float[1]);
    assertThrows(IllegalArgumentException.class, () -> new Checkpoint(RunState.start(0, "m", Map.of()), List.of(t, t), List.of()));
    assertThrows(IllegalArgumentException.class, () -> new RunState(0, 5, 4, 0, "m", Double.NaN, -1, Map.of()));
    assertThrows(IllegalArgumentException.class, () -> new RunState(-1, 0, 0, 0, "m", Double.NaN, -1, Map.of()));
    assertThrows(IllegalArgumentException.class, () -> new RunState(2, 0, 0, 0, "m", Double.NaN, 1, Map.of()));
    assertThrows(IllegalArgumentException.class, () -> new RunState(2, 0, 0, 0, "m", 0.7, -1, Map.of()));
    assertThrows(IllegalArgumentException.class, () -> new RunState(2, 0, 0, 0, "m", 0.7, 3, Map.of()));
    assertThrows(IllegalArgumentException.class, () -> new RunState(2, 0, 0, 0, " ", Double.NaN, -1, Map.of()));
    assertThrows(IllegalArgumentException.class, () -> new RunState(2, 0, 0, 0, "m", Double.NaN, -1, Map.of("", "x")));
    RunState s = RunState.start(3, "val_auc", Map.of()).at(2, 10, 50).withBest(0.9, 1);
    assertEquals(new RunState(2, 10, 50, 3, "val_auc", 0.9, 1, Map.of()), s);
    assertTrue(s.hasBest());
  }
}
