package io.bagpipe.cli;

import io.bagpipe.api.Bagpipe;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe node}: one node of a multi-node run. Every node gets the same
 * configuration (data, model, run directory on shared storage) and the same seed
 * nodes, or finds the others through Pekko Management's Cluster Bootstrap
 * ({@code bagpipe.cluster.discovery = bootstrap}, docs/cluster.md); training starts
 * when {@code bagpipe.cluster.min-workers} workers are up.
 */
@Command(name = "node", mixinStandardHelpOptions = true,
    description = "Start one node of a multi-node run (seed nodes, host, port from config or flags;"
        + " or no seeds with bagpipe.cluster.discovery = bootstrap).")
final class NodeCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Option(names = "--host", description = "Address this node binds and advertises (bagpipe.cluster.host).")
  String host;

  @Option(names = "--port", description = "Pekko port of this node, 0 = any (bagpipe.cluster.port).")
  Integer port;

  @Option(names = "--seed", paramLabel = "HOST:PORT", description = "A seed node (repeatable; bagpipe.cluster.seed-nodes).")
  List<String> seeds = new ArrayList<>();

  @Option(names = "--min-workers", description = "Workers over all nodes before training starts (bagpipe.cluster.min-workers).")
  Integer minWorkers;

  @Option(names = "--join", description = "Join a run already under way (a replacement node): its worker gets the"
      + " model from a live node; the run's checkpoints are neither checked nor read (bagpipe.cluster.joining).")
  boolean join;

  @Option(names = "--no-progress", negatable = true,
      description = "Show progress and the summary (default: true); without, only warnings and failures.")
  boolean progress = true;

  @Override
  public Integer call() throws Exception {
    List<String> sets = new ArrayList<>(configOptions.overrides);
    if (host != null) {
      sets.add("bagpipe.cluster.host=" + host);
    }
    if (port != null) {
      sets.add("bagpipe.cluster.port=" + port);
    }
    if (!seeds.isEmpty()) {
      sets.add("bagpipe.cluster.seed-nodes=[" + String.join(",", seeds.stream().map(s -> "\"" + s + "\"").toList()) + "]");
    }
    if (minWorkers != null) {
      sets.add("bagpipe.cluster.min-workers=" + minWorkers);
    }
    if (join) {
      sets.add("bagpipe.cluster.joining=true");
    }
    ProgressPrinter printer = progress
        ? new ProgressPrinter(System.err, System.console() != null)
        : ProgressPrinter.warningsOnly(System.err);
    var config = ConfigOptions.load(configOptions.configFile, sets);
    var stopTimeout = TrainCommand.stopTimeout(config);
    return TrainCommand.follow(Bagpipe.startNode(TrainCommand.forCli(config)), printer, stopTimeout);
  }
}
