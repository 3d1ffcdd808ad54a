package io.bagpipe.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Dropping the lines of epochs a resumed run trains again. */
class MetricsLogTest {

  @TempDir Path dir;

  private static String line(int epoch) {
    return EpochRecordTest.record(epoch, new TreeMap<>(Map.of("note", "épоch " + epoch + " ✓"))).toJson();
  }

  private List<String> files() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private static byte[] bytes(String... lines) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (String l : lines) {
      b.writeBytes(l.getBytes(StandardCharsets.UTF_8));
    }
    return b.toByteArray();
  }

  /**
   * A kill after epoch 2's line was appended and before its checkpoint: the run resumes at
   * epoch 2, whose line (and any later one) goes; every other line, malformed ones
   * included, stays byte for byte.
   */
  @ParameterizedTest(name = "resume at epoch {0}")
  @ValueSource(ints = {0, 1, 2, 3, 4})
  void linesOfTheEpochsRunAgainAreDroppedAndTheRestKeptByteForByte(int resumeAt) throws IOException {
    Path file = dir.resolve("metrics.jsonl");
    String torn = "{\"epoch\":1,\"train_lo"; // a crash tore this append; the next one closed it
    String[] lines = {line(0) + "\n", "not a record\n", torn + "\n", line(1) + "\n", line(2) + "\n", line(3) + "\n",
        "{\"epoch\":4,\"train_loss\":0.4"}; // torn by a crash, not closed yet: kept as it is
    Files.write(file, bytes(lines));
    int[] epochs = {0, -1, -1, 1, 2, 3, -1};
    StringBuilder kept = new StringBuilder();
    int dropped = 0;
    for (int i = 0; i < lines.length; i++) {
      if (epochs[i] >= resumeAt) {
        dropped++;
      } else {
        kept.append(lines[i]);
      }
    }
    MetricsLog log = new MetricsLog(file);
    assertEquals(dropped, log.dropFrom(resumeAt));
    assertArrayEquals(kept.toString().getBytes(StandardCharsets.UTF_8), Files.readAllBytes(file));
    assertEquals(List.of("metrics.jsonl"), files(), "no temporary file is left");
    assertEquals(0, log.dropFrom(resumeAt), "a second resume at the same epoch drops nothing");
  }

  @Test
  void aDroppedLogKeepsAppendingOnItsOwnLines() throws IOException {
    Path file = dir.resolve("metrics.jsonl");
    MetricsLog log = new MetricsLog(file);
    log.appendLine(line(0));
    log.appendLine(line(1));
    assertEquals(1, log.dropFrom(1));
    log.appendLine(line(1));
    assertEquals(List.of(line(0), line(1)), Files.readAllLines(file, StandardCharsets.UTF_8));
  }

  @Test
  void nothingToDropWritesNothing() throws IOException {
    Path file = dir.resolve("metrics.jsonl");
    MetricsLog log = new MetricsLog(file);
    assertEquals(0, log.dropFrom(0));
    assertFalse(Files.exists(file), "no log is created");
    Files.writeString(file, line(0) + "\n" + line(1) + "\n");
    Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(1_000_000));
    assertEquals(0, log.dropFrom(2));
    assertEquals(1_000_000, Files.getLastModifiedTime(file).toMillis(), "the log is not rewritten");
  }
}
