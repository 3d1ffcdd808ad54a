package io.bagpipe.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe evaluate}: {@code predict} on labelled slides, plus slide-level metrics
 * ({@code metrics.json}, {@code roc.csv}, {@code roc.png}, {@code confusion.png}) and, on a
 * synthetic data set, the tumour hit rate of the attention.
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
    description = "Predict labelled slides and score them: metrics.json, roc.csv, roc.png, confusion.png.")
final class EvaluateCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Option(names = "--checkpoint", required = true, paramLabel = "PATH",
      description = "A .ckpt file, or a run directory (its best.ckpt, else its newest checkpoint).")
  Path checkpoint;

  @Option(names = "--data", paramLabel = "DIR", description = "Data set folder: manifest.csv, slides/, coords/ (bagpipe.data.dir).")
  Path data;

  @Option(names = "--folds", paramLabel = "DIGITS", defaultValue = "",
      description = "Evaluate only these folds of the manifest, e.g. 4 or 34 (default: every slide).")
  String folds;

  @Option(names = "--split", paramLabel = "NAME", defaultValue = "",
      description = "Evaluate only this split of the manifest's split column: train, val or test.")
  String split;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the outputs (created).")
  Path out;

  @Override
  public Integer call() throws IOException {
    return PredictCommand.run(configOptions.load(), data, checkpoint, out, true, folds, split);
  }
}
