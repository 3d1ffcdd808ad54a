package io.bagpipe.cli;

import com.typesafe.config.Config;
import io.bagpipe.metrics.RunStatus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code bagpipe status [RUN_DIR]}: a live view of a running run from its nodes'
 * metrics endpoints (listed in the run directory) and its faults log; once, or
 * redrawn in place with {@code --watch} until no node answers.
 */
@Command(name = "status", mixinStandardHelpOptions = true,
    description = "Show a running run live: epoch, step, loss, bags/s, ETA, ring, nodes, loaders, recent faults.")
final class StatusCommand implements Callable<Integer> {

  @Parameters(index = "0", arity = "0..1", paramLabel = "RUN_DIR",
      description = "The run directory (default: bagpipe.train.run-dir of the configuration).")
  Path runDir;

  @Option(names = "--watch", description = "Redraw the view in place until the run ends (Ctrl-C to quit).")
  boolean watch;

  @Option(names = "--interval", description = "Seconds between redraws with --watch (default: ${DEFAULT-VALUE}).",
      defaultValue = "2")
  double interval;

  @Mixin ConfigOptions configOptions;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (!(interval > 0)) {
      throw new IllegalArgumentException("--interval must be > 0 seconds, got " + interval);
    }
    Path dir = runDir;
    if (dir == null) {
      Config config = configOptions.load();
      dir = Path.of(config.getString("bagpipe.train.run-dir"));
    }
    RunStatus status = new RunStatus(dir, Duration.ofSeconds(5));
    PrintWriter out = spec.commandLine().getOut();
    while (true) {
      RunStatus.View view = status.refresh();
      if (watch) {
        out.print("\033[H\033[2J"); // cursor home, clear screen: the view is redrawn in place
      }
      out.print(view.text());
      out.flush();
      if (!watch || view.answering() == 0) {
        return view.answering() > 0 ? 0 : 1;
      }
      Thread.sleep((long) (interval * 1000));
    }
  }
}
