package io.bagpipe.checkpoint;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A folder of checkpoints: versioned ones ({@code epoch-EEEE-step-SSSSSSS.ckpt}, the
 * newest {@code keepLast} kept) and {@code best.ckpt}. File format: see
 * {@code CheckpointFile} (magic, version, run state, tensor table, float32 data, CRC32C footer).
 *
 * <h2>Crash-safe write order, and why</h2>
 *
 * A crash (power cut, kill -9, node loss) may stop a write at any byte, and the
 * operating system may reorder writes it has not been told to force. So every save
 * goes through these steps, each finished before the next begins:
 * <ol>
 *   <li>write the whole file under a fresh temporary name ({@code <name>.<random>.tmp})
 *       in the same folder; a crash here leaves only a {@code .tmp} file, which no
 *       reader takes for a checkpoint and {@link #recover()} removes;
 *   <li>{@code FileChannel.force(true)}: the file's bytes are on disk before it gets
 *       its real name; without this a crash after the rename could leave a checkpoint
 *       name pointing to a file with holes;
 *   <li>{@code rename} with {@code ATOMIC_MOVE} (same folder, so same file system):
 *       readers see the old file or the complete new one, never a partial one;
 *   <li>force the folder itself, so the rename (a folder entry) is durable too;
 *   <li>only now delete versioned checkpoints beyond the newest {@code keepLast}. The
 *       newest good checkpoint is therefore never deleted before a newer one is
 *       complete and durable: at every instant at least one good checkpoint exists.
 * </ol>
 * Each file also carries a CRC32C over all its bytes, so a file damaged in spite of
 * this (disk errors, a file system that lies about force) is detected on load, and
 * {@link #recover()} falls back to the previous version; when no version is left
 * that loads, {@link #latest()} fails rather than letting a run start from scratch.
 *
 * <p>One run writes a folder at a time. A save whose plan position is behind a
 * versioned checkpoint already in the folder is refused: that checkpoint belongs to
 * a run this one did not resume from, and pruning would otherwise delete the newer
 * work or keep it to be resumed by mistake. Resuming through {@link #recover()}
 * first moves corrupt newer files aside, so a resumed run never meets this.
 *
 * <p>Methods are synchronized; the store holds no open files between calls.
 */
public final class CheckpointStore {

  private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);
  private static final Pattern VERSIONED = Pattern.compile("epoch-(\\d{4,9})-step-(\\d{7,18})\\.ckpt");
  private static final String BEST = "best.ckpt";
  private static final String TEMPORARY = ".tmp";
  private static final String CORRUPT = ".corrupt";

  private final Path dir;
  private final int keepLast;

  /**
   * A store over {@code dir} (created on the first save) keeping the newest
   * {@code keepLast} versioned checkpoints.
   */
  public CheckpointStore(Path dir, int keepLast) {
    this.dir = Objects.requireNonNull(dir, "dir");
    if (keepLast < 1) {
      throw new IllegalArgumentException("keepLast must be at least 1 (bagpipe.checkpoint.keep-last), got " + keepLast);
    }
    this.keepLast = keepLast;
  }

  /** The store configured by {@code settings} for the run whose directory is {@code runDir}. */
  public static CheckpointStore open(CheckpointSettings settings, Path runDir) {
    return new CheckpointStore(settings.resolveDir(runDir), settings.keepLast());
  }

  /** The checkpoint folder. */
  public Path dir() {
    return dir;
  }

  /** How many versioned checkpoints are kept. */
  public int keepLast() {
    return keepLast;
  }

  /** File name of the versioned checkpoint at a plan position: {@code epoch-0003-step-0000120.ckpt}. */
  public static String fileName(int epoch, long step) {
    return String.format("epoch-%04d-step-%07d.ckpt", epoch, step);
  }

  /** Reads and verifies one checkpoint file, wherever it lies. */
  public static Checkpoint read(Path file) throws IOException {
    return CheckpointFile.read(file);
  }

  /**
   * Saves {@code c} as the versioned checkpoint of its plan position (replacing one
   * saved at the same position), crash-safely, then deletes versions beyond the newest
   * {@code keepLast}.
   *
   * @return the file written
   * @throws IllegalStateException when the folder holds a checkpoint of a later plan position
   */
  public synchronized Path saveLast(Checkpoint c) throws IOException {
    Files.createDirectories(dir);
    Position position = new Position(c.state().epoch(), c.state().step());
    Path target = dir.resolve(fileName(position.epoch, position.step));
    List<Version> versions = versions();
    if (!versions.isEmpty() && versions.getFirst().position.compareTo(position) > 0) {
      throw new IllegalStateException("refusing to save " + target.getFileName() + " into " + dir + ": it already holds "
          + versions.getFirst().file.getFileName() + ", a later position this run did not resume from. Resume from it"
          + " or give the run another folder (bagpipe.checkpoint.dir)");
    }
    writeDurably(target, c);
    prune();
    return target;
  }

  /** Saves {@code c} as {@code best.ckpt}, crash-safely replacing the previous best. */
  public synchronized Path saveBest(Checkpoint c) throws IOException {
    Files.createDirectories(dir);
    Path target = dir.resolve(BEST);
    writeDurably(target, c);
    return target;
  }

  /**
   * Finds the checkpoint to resume from: the newest versioned checkpoint that loads
   * cleanly. Corrupt newer ones are then moved aside to {@code <name>.corrupt} and
   * listed. When no versioned checkpoint loads, the corrupt ones are listed but left
   * where they are, so that every later start meets them too until someone decides
   * what to do with them. Leftover temporary files of interrupted writes are removed
   * and listed.
   *
   * @throws CheckpointException.Unsupported when a checkpoint has another format
   *     version: it is neither passed over nor moved, since it may be the newest work
   */
  public synchronized Recovery recover() throws IOException {
    if (!Files.isDirectory(dir)) {
      return new Recovery.NothingFound(List.of(), List.of());
    }
    List<Path> removed = new ArrayList<>();
    for (Path p : list()) {
      if (p.getFileName().toString().endsWith(TEMPORARY)) {
        Files.deleteIfExists(p);
        removed.add(p);
      }
    }
    List<Recovery.Rejected> corrupt = new ArrayList<>();
    List<Recovery.Rejected> rejected = new ArrayList<>();
    try {
      for (Version v : versions()) {
        try {
          Checkpoint c = CheckpointFile.read(v.file);
          // An older one is good: the corrupt newer ones go aside, or the next save would refuse to pass them.
          for (Recovery.Rejected x : corrupt) {
            Path aside = x.file().resolveSibling(x.file().getFileName() + CORRUPT);
            Files.move(x.file(), aside, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            rejected.add(new Recovery.Rejected(x.file(), x.reason(), aside));
          }
          return new Recovery.Found(v.file, c, rejected, removed);
        } catch (CheckpointException.Corrupt e) {
          corrupt.add(new Recovery.Rejected(v.file, e.getMessage(), v.file));
        }
      }
      return new Recovery.NothingFound(corrupt, removed);
    } finally {
      if (!rejected.isEmpty() || !removed.isEmpty()) {
        forceDirectory();
      }
    }
  }

  /**
   * The newest versioned checkpoint that loads cleanly, as {@link #recover()} finds
   * it, with the file it was read from; empty when the folder holds no versioned
   * checkpoint. What it passed over or removed is logged as a warning.
   *
   * @throws CheckpointException.NoneReadable when the folder holds versioned
   *     checkpoints and none of them loads: starting from scratch would silently
   *     throw the run's work away
   * @throws CheckpointException.Unsupported as {@link #recover()}
   */
  public Optional<Recovery.Found> latest() throws IOException {
    Recovery r = recover();
    for (Path p : r.leftoversRemoved()) {
      LOG.info("removed {}, left by a checkpoint write that was interrupted", p);
    }
    return switch (r) {
      case Recovery.Found f -> {
        for (Recovery.Rejected x : f.rejected()) {
          LOG.warn("{}; moved it to {} and looked for an older checkpoint", x.reason(), x.movedTo().getFileName());
        }
        if (!f.rejected().isEmpty()) {
          LOG.warn("resuming from the older checkpoint {}", f.file());
        }
        yield Optional.of(f);
      }
      case Recovery.NothingFound n when !n.rejected().isEmpty() ->
          throw new CheckpointException.NoneReadable(dir, n.rejected().stream().map(Recovery.Rejected::reason).toList());
      case Recovery.NothingFound n -> Optional.empty();
    };
  }

  /**
   * The newest versioned checkpoint that loads cleanly: {@link #latest()} without its file.
   *
   * @throws CheckpointException as {@link #latest()}
   */
  public Optional<Checkpoint> loadLatest() throws IOException {
    return latest().map(Recovery.Found::checkpoint);
  }

  /**
   * {@code best.ckpt}, or empty when none was saved.
   *
   * @throws CheckpointException when it exists but cannot be used
   */
  public synchronized Optional<Checkpoint> loadBest() throws IOException {
    Path best = dir.resolve(BEST);
    try {
      return Optional.of(CheckpointFile.read(best));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  /** The versioned checkpoint files, newest plan position first. */
  public synchronized List<Path> versionedFiles() throws IOException {
    return Files.isDirectory(dir) ? versions().stream().map(Version::file).toList() : List.of();
  }

  private void writeDurably(Path target, Checkpoint c) throws IOException {
    Path tmp = target.resolveSibling(target.getFileName() + "." + ProcessHandle.current().pid() + "-"
        + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36) + TEMPORARY);
    try {
      try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        CheckpointFile.write(channel, c);
        channel.force(true);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        throw new IOException("cannot rename checkpoints atomically in " + dir
            + "; put bagpipe.checkpoint.dir on a local or POSIX file system", e);
      }
    } catch (IOException | RuntimeException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    forceDirectory();
  }

  /** Deletes versions beyond the newest {@code keepLast}; called only after a save is durable. */
  private void prune() throws IOException {
    List<Version> versions = versions();
    for (Version v : versions.subList(Math.min(keepLast, versions.size()), versions.size())) {
      Files.deleteIfExists(v.file);
    }
  }

  /** Makes renames and deletions in the folder durable (an fsync of the folder; works on Linux). */
  private void forceDirectory() throws IOException {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    }
  }

  private List<Version> versions() throws IOException {
    List<Version> versions = new ArrayList<>();
    for (Path p : list()) {
      Matcher m = VERSIONED.matcher(p.getFileName().toString());
      if (m.matches() && Files.isRegularFile(p)) {
        versions.add(new Version(p, new Position(Integer.parseInt(m.group(1)), Long.parseLong(m.group(2)))));
      }
    }
    versions.sort(Comparator.comparing(Version::position).reversed());
    return versions;
  }

  private List<Path> list() throws IOException {
    List<Path> files = new ArrayList<>();
    try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
      s.forEach(files::add);
    }
    return files;
  }

  private record Position(int epoch, long step) implements Comparable<Position> {
    @Override
    public int compareTo(Position o) {
      return epoch != o.epoch ? Integer.compare(epoch, o.epoch) : Long.compare(step, o.step);
    }
  }

  private record Version(Path file, Position position) {}
}
