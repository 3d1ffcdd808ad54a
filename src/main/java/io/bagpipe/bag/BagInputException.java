package io.bagpipe.bag;

import java.nio.file.Path;

/**
 * Bad input data: a manifest or coordinate file that is missing, malformed or
 * inconsistent with the slides. The message always starts with the file and, when
 * the problem sits on one line, the line number ({@code manifest.csv line 7: ...}),
 * so a user can fix the data without a stack trace.
 */
public final class BagInputException extends RuntimeException {

  private final Path path;
  private final int line;

  /**
   * @param path the file at fault
   * @param line its 1-based line number, or 0 when the problem concerns the whole file
   * @param detail what is wrong and, where it helps, how to fix it
   */
  public BagInputException(Path path, int line, String detail) {
    super(path + (line > 0 ? " line " + line : "") + ": " + detail);
    this.path = path;
    this.line = line;
  }

  /** The file at fault. */
  public Path path() {
    return path;
  }

  /** The 1-based line at fault, or 0 when the problem concerns the whole file. */
  public int line() {
    return line;
  }
}
