package io.bagpipe.cli;

import picocli.CommandLine.Command;

/** Writes a synthetic data set (to be filled in by the synth work). */
@Command(name = "synth", description = "Write a synthetic whole-slide data set (slides, coordinates, manifest).")
final class SynthCommand implements java.util.concurrent.Callable<Integer> {
  @Override
  public Integer call() {
    throw new UnsupportedOperationException("synth is not built yet");
  }
}
