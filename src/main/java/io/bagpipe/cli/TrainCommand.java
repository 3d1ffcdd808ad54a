package io.bagpipe.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import io.bagpipe.api.Bagpipe;
import io.bagpipe.api.BagpipeRun;
import io.bagpipe.api.RunFailedException;
import io.bagpipe.api.RunResult;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code bagpipe train}: one run on this node, configured by {@code --config}
 * (./application.conf by default) and {@code --set}; shows progress and ends with
 * a summary. Ctrl-C stops gracefully: the current step finishes and a checkpoint
 * is written (the process waits up to {@code bagpipe.train.stop-timeout} for it), so
 * the same command resumes the run.
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
    Duration stopTimeout = stopTimeout(config);
    return follow(Bagpipe.start(forCli(config)), new ProgressPrinter(System.err, System.console() != null),
        stopTimeout);
  }

  /**
   * The configuration of a run that this process follows with {@link #follow}: Pekko's
   * own JVM shutdown hook is off. That hook runs on Ctrl-C (and on the SIGTERM of
   * {@code bagpipe launch}) beside ours and would terminate the run's ActorSystem while
   * its workers finish the step and write the checkpoint; the run would then fail
   * without one. Our hook stops the run and terminates the system when it has ended.
   */
  static Config forCli(Config config) {
    return ConfigFactory.parseString("pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off")
        .withFallback(config);
  }

  /** {@code bagpipe.train.stop-timeout}: how long Ctrl-C waits for the stop's checkpoint. */
  static Duration stopTimeout(Config config) {
    Duration d = config.getDuration("bagpipe.train.stop-timeout");
    if (d.isNegative() || d.isZero()) {
      throw new ConfigException.BadValue(config.origin(), "bagpipe.train.stop-timeout",
          "must be a positive duration, e.g. 2 m; got " + d);
    }
    return d;
  }

  /**
   * Shows {@code run} through {@code printer} until it has ended and its system
   * has stopped; Ctrl-C stops it gracefully, and the process exits once the run has
   * stopped with its checkpoint, its system has terminated and the summary is shown,
   * or after {@code stopTimeout}. The run's system must not be terminated by
   * Pekko's own shutdown hook ({@link #forCli}). Exit code: 0 completed, 130
   * stopped, 1 failed.
   */
  static int follow(BagpipeRun run, ProgressPrinter printer, Duration stopTimeout) throws Exception {
    run.events().subscribe(printer);
    Thread hook = new Thread(() -> {
      System.err.println("\nstopping after the current step with a checkpoint (waiting up to "
          + stopTimeout.toSeconds() + " s, bagpipe.train.stop-timeout) ...");
      run.stop();
      long deadline = System.nanoTime() + stopTimeout.toNanos();
      try {
        run.result().toCompletableFuture().handle((r, e) -> null).get(left(deadline), TimeUnit.NANOSECONDS);
        run.terminated().toCompletableFuture().handle((r, e) -> null).get(left(deadline), TimeUnit.NANOSECONDS);
        printer.await(left(deadline), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        System.err.println("the run did not stop within " + stopTimeout.toSeconds() + " s (bagpipe.train.stop-timeout);"
            + " exiting without its stop checkpoint: a resume starts from the newest one before it");
      } catch (InterruptedException | ExecutionException e) {
        // exiting anyway
      }
    }, "bagpipe-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    sun.misc.SignalHandler usr1Before = onUsr1(run);
    try {
      RunResult result = run.result().toCompletableFuture().join();
      printer.await();
      run.terminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      return result.stopped() ? 130 : 0;
    } catch (CompletionException e) {
      printer.await();
      if (e.getCause() instanceof RunFailedException) {
        return 1;
      }
      throw e;
    } finally {
      sun.misc.Signal.handle(new sun.misc.Signal("USR1"), usr1Before);
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it waits for the result itself
      }
    }
  }

  /**
   * SIGUSR1 stops {@code run} gracefully, as Ctrl-C does, but leaves the process to end on
   * its own once the run has stopped with its checkpoint (exit code 130): a batch system
   * sends it ahead of a time limit (deploy/slurm/bagpipe.sbatch, {@code --signal}), which
   * then waits for the process rather than killing it. Returns the handler it replaced.
   */
  private static sun.misc.SignalHandler onUsr1(BagpipeRun run) {
    return sun.misc.Signal.handle(new sun.misc.Signal("USR1"), s -> {
      System.err.println("\nSIGUSR1: stopping after the current step with a checkpoint ...");
      run.stop();
    });
  }

  private static long left(long deadline) {
    return Math.max(0, deadline - System.nanoTime());
  }
}
