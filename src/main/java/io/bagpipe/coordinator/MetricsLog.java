package io.bagpipe.coordinator;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The run's metrics as JSON lines ({@code metrics.jsonl} in the run directory), one
 * {@link EpochRecord} per line. Each append is forced to disk before it returns, so
 * an epoch reported is an epoch recorded. A line torn by a crash is closed with a
 * line break before the next append, so later lines stay parseable. No file is held
 * open between appends.
 *
 * <p>A resumed run first {@linkplain #dropFrom drops} the lines of the epochs it is
 * about to run again: a kill after an epoch's line was appended and before its
 * checkpoint was written would otherwise leave that epoch recorded twice.
 */
public final class MetricsLog {

  private static final Logger LOG = LoggerFactory.getLogger(MetricsLog.class);
  /** A whole record line as {@link EpochRecord#toJson()} writes it: its epoch first, closed by a brace. */
  private static final Pattern RECORD = Pattern.compile("\\{\"epoch\":(\\d{1,9})[,}].*}", Pattern.DOTALL);

  private final Path file;

  /** A log appending to {@code file} (created, with its folder, on the first append). */
  public MetricsLog(Path file) {
    this.file = Objects.requireNonNull(file, "file");
  }

  /** The log file. */
  public Path file() {
    return file;
  }

  /**
   * Removes the lines of epochs {@code epoch} and later, for a run that resumes at
   * {@code epoch}; every other line stays byte for byte, a line that is not a whole
   * record (torn, edited) included. Crash-safe: the kept lines are written to a
   * temporary file in the same folder, forced to disk, and renamed over the log (then
   * the folder is forced), so a crash leaves the old log or the new one. Nothing is
   * written when there is nothing to drop or no log yet.
   *
   * @return the number of lines dropped
   */
  public synchronized int dropFrom(int epoch) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return 0;
    }
    ByteArrayOutputStream kept = new ByteArrayOutputStream(bytes.length);
    int dropped = 0;
    for (int start = 0; start < bytes.length; ) {
      int end = start;
      while (end < bytes.length && bytes[end] != '\n') {
        end++;
      }
      int next = Math.min(end + 1, bytes.length); // the line with its line break, when it has one
      Matcher m = RECORD.matcher(new String(bytes, start, end - start, StandardCharsets.ISO_8859_1));
      if (m.matches() && Integer.parseInt(m.group(1)) >= epoch) {
        dropped++;
      } else {
        kept.write(bytes, start, next - start);
      }
      start = next;
    }
    if (dropped == 0) {
      return 0;
    }
    Path parent = file.toAbsolutePath().getParent();
    Path tmp = parent.resolve(file.getFileName() + "." + ProcessHandle.current().pid() + "-"
        + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36) + ".tmp");
    try {
      try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        ByteBuffer out = ByteBuffer.wrap(kept.toByteArray());
        while (out.hasRemaining()) {
          channel.write(out);
        }
        channel.force(true);
      }
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.deleteIfExists(tmp);
      throw new IOException("cannot rename " + tmp + " over " + file + " atomically; put bagpipe.train.run-dir on a"
          + " local or POSIX file system", e);
    } catch (IOException | RuntimeException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    try (FileChannel dir = FileChannel.open(parent, StandardOpenOption.READ)) {
      dir.force(true); // the rename
    }
    LOG.warn("dropped {} line(s) of epoch {} and later from {}: the run resumes at epoch {} from its checkpoint, and"
        + " runs those epochs again", dropped, epoch, file, epoch);
    return dropped;
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
