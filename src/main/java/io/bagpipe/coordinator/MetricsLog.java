package io.bagpipe.coordinator;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * The run's metrics as JSON lines ({@code metrics.jsonl} in the run directory), one
 * {@link EpochRecord} per line. Each append is forced to disk before it returns, so
 * an epoch reported is an epoch recorded. A line torn by a crash is closed with a
 * line break before the next append, so later lines stay parseable. No file is held
 * open between appends.
 */
public final class MetricsLog {

  private final Path file;

  /** A log appending to {@code file} (created, with its folder, on the first append). */
  public MetricsLog(Path file) {
    this.file = Objects.requireNonNull(file, "file");
  }

  /** The log file. */
  public Path file() {
    return file;
  }

  /** Appends {@code record} as one line and forces it to disk. */
  public void append(EpochRecord record) throws IOException {
    appendLine(record.toJson());
  }

  /** Appends one line (without line break) and forces it to disk. */
  public synchronized void appendLine(String line) throws IOException {
    if (line.indexOf('\n') >= 0 || line.indexOf('\r') >= 0) {
      throw new IllegalArgumentException("a metrics line must not contain a line break: " + line);
    }
    Path parent = file.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    boolean created = !Files.exists(file);
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
        StandardOpenOption.WRITE)) {
      long end = channel.size();
      boolean torn = false;
      if (end > 0) {
        ByteBuffer last = ByteBuffer.allocate(1);
        channel.read(last, end - 1);
        torn = last.get(0) != '\n';
      }
      ByteBuffer bytes = ByteBuffer.wrap(((torn ? "\n" : "") + line + "\n").getBytes(StandardCharsets.UTF_8));
      while (bytes.hasRemaining()) {
        end += channel.write(bytes, end);
      }
      channel.force(true);
    }
    if (created) {
      try (FileChannel dir = FileChannel.open(parent, StandardOpenOption.READ)) {
        dir.force(true); // the new file's folder entry
      }
    }
  }
}
