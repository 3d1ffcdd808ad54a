package io.bagpipe.slide;

import java.nio.file.Path;

/**
 * A slide that can't be opened or read. The message names the file and, where
 * OpenSlide gave one, OpenSlide's own message; {@link #reason()} lets callers
 * decide (skip the slide, retry, abort).
 */
public final class SlideException extends RuntimeException {

  /** Why the slide failed. */
  public enum Reason {
    /** No file at that path. */
    MISSING,
    /** The file exists but OpenSlide does not recognise its format. */
    UNRECOGNISED,
    /** OpenSlide recognised the format but failed to open or read it. */
    CORRUPT
  }

  private final Path path;
  private final Reason reason;

  public SlideException(Path path, Reason reason, String message) {
    super(message);
    this.path = path;
    this.reason = reason;
  }

  public Path path() {
    return path;
  }

  public Reason reason() {
    return reason;
  }
}
