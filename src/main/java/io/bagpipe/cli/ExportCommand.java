package io.bagpipe.cli;

import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.export.ModelExport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code bagpipe export}: writes a checkpoint's model as {@code model.safetensors},
 * {@code config.json} and the reference PyTorch module {@code bagpipe_mil.py} ({@link ModelExport}).
 * Given a run directory it exports {@code checkpoints/best.ckpt}, or the newest versioned checkpoint
 * when there is no best (or with {@code --latest}).
 */
@Command(name = "export", mixinStandardHelpOptions = true,
    description = "Export a trained model for PyTorch: model.safetensors, config.json, bagpipe_mil.py.")
final class ExportCommand implements Callable<Integer> {

  @Parameters(index = "0", paramLabel = "CHECKPOINT_OR_RUN_DIR",
      description = "A .ckpt file, a run directory (its checkpoints/ folder is read) or a checkpoint folder.")
  Path source;

  @Option(names = "--out", paramLabel = "DIR", required = true, description = "Folder to write the export into.")
  Path out;

  @Option(names = "--latest", description = "Export the newest checkpoint instead of best.ckpt.")
  boolean latest;

  @Option(names = "--class-names", paramLabel = "A,B,...", split = ",",
      description = "Names of the classes, in label order, for config.json.")
  List<String> classNames = List.of();

  @Option(names = "--mean", paramLabel = "R,G,B",
      description = "Input normalisation mean, only for checkpoints that do not record it.")
  String mean;

  @Option(names = "--std", paramLabel = "R,G,B",
      description = "Input normalisation std, only for checkpoints that do not record it.")
  String std;

  @Override
  public Integer call() throws IOException {
    Path file = checkpointFile(source, latest);
    Checkpoint checkpoint = CheckpointStore.read(file);
    ModelExport export = ModelExport.of(checkpoint.state(), file,
        mean == null ? null : ModelExport.floats(mean, "--mean", "--mean"),
        std == null ? null : ModelExport.floats(std, "--std", "--std"), classNames);
    List<String> names = export.write(checkpoint, file, out);
    System.out.printf("exported %s (epoch %d, %s %s %s, %d tensors) to %s%n", file, checkpoint.state().epoch(),
        export.encoder(), export.pooling(), export.classes() + " classes", names.size(), out.toAbsolutePath());
    return 0;
  }

  /**
   * The checkpoint file {@code source} names: itself when a file; in a folder (a run directory's
   * {@code checkpoints/}, or the folder itself) {@code best.ckpt} unless {@code latest}, else the
   * newest versioned checkpoint.
   *
   * @throws IllegalArgumentException when there is none
   */
  static Path checkpointFile(Path source, boolean latest) throws IOException {
    if (Files.isRegularFile(source)) {
      return source;
    }
    if (!Files.isDirectory(source)) {
      throw new IllegalArgumentException(source + " does not exist: give a .ckpt file or a run directory");
    }
    Path dir = Files.isDirectory(source.resolve("checkpoints")) ? source.resolve("checkpoints") : source;
    if (!latest && Files.isRegularFile(dir.resolve("best.ckpt"))) {
      return dir.resolve("best.ckpt");
    }
    List<Path> versions = new CheckpointStore(dir, Integer.MAX_VALUE).versionedFiles();
    if (versions.isEmpty()) {
      throw new IllegalArgumentException("no checkpoint in " + dir + " (neither best.ckpt nor epoch-*.ckpt)");
    }
    return versions.getFirst(); // read as is: export moves nothing aside, a corrupt file fails naming itself
  }
}
