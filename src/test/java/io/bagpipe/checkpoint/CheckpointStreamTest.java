package io.bagpipe.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A replica's state sent to a joining worker arrives whole, or is refused with a reason. */
class CheckpointStreamTest {

  static Checkpoint checkpoint(int floats) {
    float[] w = new float[floats];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) Math.sin(i) * 1e3f;
    }
    float[] m = w.clone();
    Arrays.fill(m, 0, Math.min(3, m.length), Float.NaN);
    return new Checkpoint(RunState.start(9, "val_auc", Map.of("encoder", "mil-cnn-s")).at(3, 17, 250).withBest(0.9, 2),
        List.of(new NamedTensor("encoder.conv1.weight", new long[] {floats}, w), new NamedTensor("bias", new long[] {}, new float[] {1.5f})),
        List.of(new NamedTensor("momentum.encoder.conv1.weight", new long[] {floats}, m)));
  }

  static byte[] bytes(Checkpoint c) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    CheckpointStream.write(c, out);
    return out.toByteArray();
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 1, 65_535, 65_536, 300_001})
  void aStateRoundTripsBitForBit(int floats) throws IOException {
    Checkpoint c = checkpoint(floats);
    Checkpoint back = CheckpointStream.read(new ByteArrayInputStream(bytes(c)), "test");
    assertEquals(c.state(), back.state());
    assertEquals(c.parameters(), back.parameters());
    assertEquals(c.optimizerState(), back.optimizerState());
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 5, 40, 1000, -9})
  void aDamagedOrCutStreamIsAnErrorNamingItsSource(int at) throws IOException {
    byte[] b = bytes(checkpoint(1000));
    IOException e;
    if (at >= 0) {
      b[at] ^= 0x10;
      e = assertThrows(IOException.class, () -> CheckpointStream.read(new ByteArrayInputStream(b), "transfer 7"));
    } else {
      byte[] cut = Arrays.copyOf(b, b.length + at);
      e = assertThrows(IOException.class, () -> CheckpointStream.read(new ByteArrayInputStream(cut), "transfer 7"));
    }
    assertTrue(e.getMessage().contains("transfer 7"), e.getMessage());
  }
}
