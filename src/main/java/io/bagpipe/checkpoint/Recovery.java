package io.bagpipe.checkpoint;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * What {@link CheckpointStore#recover()} found in a checkpoint folder: the newest
 * checkpoint that loads cleanly, or nothing to resume from. Either way it lists the
 * corrupt checkpoints it passed over (newest first) and the leftover temporary files
 * of interrupted writes that it removed, so the caller can report them.
 */
public sealed interface Recovery permits Recovery.Found, Recovery.NothingFound {

  /** Corrupt checkpoints passed over, newest first. */
  List<Rejected> rejected();

  /** Temporary files of interrupted writes that were removed. */
  List<Path> leftoversRemoved();

  /**
   * A checkpoint to resume from.
   *
   * @param file the checkpoint's file
   * @param checkpoint its contents, verified
   * @param rejected newer checkpoints that were corrupt, newest first
   * @param leftoversRemoved temporary files removed
   */
  record Found(Path file, Checkpoint checkpoint, List<Rejected> rejected, List<Path> leftoversRemoved)
      implements Recovery {
    public Found {
      Objects.requireNonNull(file, "file");
      Objects.requireNonNull(checkpoint, "checkpoint");
      rejected = List.copyOf(rejected);
      leftoversRemoved = List.copyOf(leftoversRemoved);
    }
  }

  /**
   * No checkpoint loads cleanly (or there is none). With none at all the run starts
   * from scratch; with only corrupt ones it must not ({@link CheckpointStore#latest()}).
   *
   * @param rejected checkpoints that were corrupt, newest first, left in place
   * @param leftoversRemoved temporary files removed
   */
  record NothingFound(List<Rejected> rejected, List<Path> leftoversRemoved) implements Recovery {
    public NothingFound {
      rejected = List.copyOf(rejected);
      leftoversRemoved = List.copyOf(leftoversRemoved);
    }
  }

  /**
   * A corrupt checkpoint. When an older one loads it is moved aside (not deleted), so
   * that it no longer counts as a version and can still be examined; when none loads
   * it stays where it is (see {@link CheckpointStore#latest()}).
   *
   * @param file where it was
   * @param reason why it was rejected, naming the file
   * @param movedTo where it is now: {@code <file>.corrupt}, or {@code file} itself when left in place
   */
  record Rejected(Path file, String reason, Path movedTo) {
    public Rejected {
      Objects.requireNonNull(file, "file");
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(movedTo, "movedTo");
    }
  }
}
