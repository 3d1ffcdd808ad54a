package io.bagpipe.cli;

import com.typesafe.config.Config;
import io.bagpipe.api.Bagpipe;
import io.bagpipe.api.BagpipeRun;
import io.bagpipe.api.RunFailedException;
import io.bagpipe.api.RunResult;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code bagpipe train}: one run on this node, configured by {@code --config}
 * (./application.conf by default) and {@code --set}; shows progress and ends with
 * a summary. Ctrl-C stops gracefully: the current step finishes and a checkpoint
 * is written, so the same command resumes the run.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
    description = "Train a MIL model on this node (progress bars, summary; Ctrl-C stops with a checkpoint).")
final class TrainCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Override
  public Integer call() throws Exception {
    return run(configOptions.load());
  }

  /** Runs {@code config} to its end with progress on stderr; 0 when it completed, 1 when it failed. */
  static int run(Config config) throws Exception {
    return follow(Bagpipe.start(config), new ProgressPrinter(System.err, System.console() != null));
  }

  /**
   * Shows {@code run} through {@code printer} until it has ended and its system
   * has stopped; Ctrl-C stops it gracefully. Exit code: 0 completed, 130 stopped,
   * 1 failed.
   */
  static int follow(BagpipeRun run, ProgressPrinter printer) throws Exception {
    run.events().subscribe(printer);
    Thread hook = new Thread(() -> {
      System.err.println("\nstopping after the current step (Ctrl-C again to abort) ...");
      run.stop();
      run.result().toCompletableFuture().handle((r, e) -> null).join();
    }, "bagpipe-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      RunResult result = run.result().toCompletableFuture().join();
      printer.await();
      run.terminated().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
      return result.stopped() ? 130 : 0;
    } catch (CompletionException e) {
      printer.await();
      if (e.getCause() instanceof RunFailedException) {
        return 1;
      }
      throw e;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it waits for the result itself
      }
    }
  }
}
