package io.bagpipe.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A checkpoint's tensor table cannot make a small file ask for more memory than it holds. */
class CheckpointTableTest {

  @TempDir Path dir;

  private Path saved() throws IOException {
    RunState state = CheckpointFileTest.sample(1, 1, 1).state();
    Checkpoint c = new Checkpoint(state,
        List.of(NamedTensor.vector("alpha", new float[1000]), NamedTensor.vector("beta", new float[1000])), List.of());
    return new CheckpointStore(dir, 2).saveLast(c);
  }

  /** The file offset of the i64 data offset in the table entry of the one-dimensional tensor {@code name}. */
  private static int offsetField(byte[] file, String name) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    outer:
    for (int i = 0; i + n.length < file.length; i++) {
      for (int j = 0; j < n.length; j++) {
        if (file[i + j] != n[j]) {
          continue outer;
        }
      }
      return i + n.length + 4 + 8; // name, u32 rank (1), i64 dimension
    }
    throw new AssertionError(name + " not in the file");
  }

  /** Writes {@code bytes} with a footer CRC that matches them, as a crafted file would carry. */
  private static void writeWithValidChecksum(Path file, byte[] bytes) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    long footer = b.getLong(bytes.length - 16);
    CRC32C crc = new CRC32C();
    crc.update(bytes, 0, (int) footer);
    b.putInt(bytes.length - 8, (int) crc.getValue());
    Files.write(file, bytes);
  }

  @Test
  void aTableWhoseTensorsOverlapIsCorruptAndNamesTheTensor() throws IOException {
    Path file = saved();
    assertEquals(2, CheckpointStore.read(file).parameters().size()); // the honest file reads
    byte[] bytes = Files.readAllBytes(file);
    ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    long alpha = b.getLong(offsetField(bytes, "alpha"));
    b.putLong(offsetField(bytes, "beta"), alpha); // beta now reads alpha's floats again
    writeWithValidChecksum(file, bytes);
    var e = assertThrows(CheckpointException.Corrupt.class, () -> CheckpointStore.read(file));
    assertTrue(e.getMessage().contains("tensor beta starts at offset " + alpha), e.getMessage());
    assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
  }

  @Test
  void aTableThatLeavesDataUnclaimedIsCorrupt() throws IOException {
    Path file = saved();
    byte[] bytes = Files.readAllBytes(file);
    ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    int dim = offsetField(bytes, "beta") - 8;
    b.putLong(dim, 999); // one float short of the data that follows
    writeWithValidChecksum(file, bytes);
    var e = assertThrows(CheckpointException.Corrupt.class, () -> CheckpointStore.read(file));
    assertTrue(e.getMessage().contains("end at offset"), e.getMessage());
  }
}
