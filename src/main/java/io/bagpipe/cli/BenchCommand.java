package io.bagpipe.cli;

import picocli.CommandLine.Command;

/** Benchmarks against the peer pipeline and the physical limits. */
@Command(name = "bench", subcommands = {BenchReadCommand.class, BenchTrainCommand.class, BenchAllReduceCommand.class, BenchFaultsCommand.class, BenchWitnessCommand.class, BenchGpuCommand.class}, description = "Measure Bagpipe against the peer pipeline and the machine's limits.")
final class BenchCommand implements Runnable {
  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
