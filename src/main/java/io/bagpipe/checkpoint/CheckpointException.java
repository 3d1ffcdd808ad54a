package io.bagpipe.checkpoint;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * A checkpoint file that cannot be used. The message starts with the file. Callers
 * branch on the kinds: a {@link Corrupt} file (torn by a crash, damaged on disk)
 * can be passed over for an older one; an {@link Unsupported} file was written by
 * another format version and must not be passed over, because it may well be newer
 * than anything this build can read; {@link NoneReadable} is a checkpoint folder
 * whose every versioned checkpoint is corrupt, so there is nothing to resume from
 * and the run's work would be lost by starting over.
 */
public abstract sealed class CheckpointException extends IOException
    permits CheckpointException.Corrupt, CheckpointException.Unsupported, CheckpointException.NoneReadable {

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

  /**
   * Versioned checkpoints exist in a folder but none of them loads. {@link #file()}
   * is the folder; the message lists every file with its reason and what to do.
   */
  public static final class NoneReadable extends CheckpointException {
    private final List<String> reasons;

    NoneReadable(Path dir, List<String> reasons) {
      super(dir, "none of its " + reasons.size() + " versioned checkpoint(s) can be read, so the run cannot resume:\n  "
          + String.join("\n  ", reasons) + "\nMove these files aside (e.g. rename them to <name>.corrupt) to start this"
          + " run from scratch in the same folder, or set bagpipe.train.resume = false with another"
          + " bagpipe.train.run-dir to start a new run");
      this.reasons = List.copyOf(reasons);
    }

    /** Why each checkpoint was rejected, newest first; each names its file. */
    public List<String> reasons() {
      return reasons;
    }
  }
}
