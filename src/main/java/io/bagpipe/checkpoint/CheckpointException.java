package io.bagpipe.checkpoint;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A checkpoint file that cannot be used. The message starts with the file. Callers
 * branch on the two kinds: a {@link Corrupt} file (torn by a crash, damaged on disk)
 * can be passed over for an older one; an {@link Unsupported} file was written by
 * another format version and must not be passed over, because it may well be newer
 * than anything this build can read.
 */
public abstract sealed class CheckpointException extends IOException
    permits CheckpointException.Corrupt, CheckpointException.Unsupported {

  private final Path file;

  CheckpointException(Path file, String detail) {
    super(file + ": " + detail);
    this.file = file;
  }

  /** The file at fault. */
  public Path file() {
    return file;
  }

  /** A torn, truncated or damaged checkpoint: its checksum or its structure is wrong. */
  public static final class Corrupt extends CheckpointException {
    Corrupt(Path file, String detail) {
      super(file, "corrupt checkpoint: " + detail);
    }
  }

  /** A checkpoint of a format version this build does not read. */
  public static final class Unsupported extends CheckpointException {
    private final int version;

    Unsupported(Path file, int version, int supported) {
      super(file, "checkpoint format version " + version + ", this build reads version " + supported
          + "; resume it with the Bagpipe version that wrote it, or start the run in a new bagpipe.checkpoint.dir");
      this.version = version;
    }

    /** The version found in the file. */
    public int version() {
      return version;
    }
  }
}
