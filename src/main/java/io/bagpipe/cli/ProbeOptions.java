package io.bagpipe.cli;

import picocli.CommandLine.Option;

/** {@code --peers[=DIR]}: run the outside peers' probes instead of the project's, as a cross-check. */
final class ProbeOptions {

  @Option(names = "--peers", arity = "0..1", fallbackValue = "", paramLabel = "DIR",
      description = "Cross-check: run the peers folder's probes (DIR, default bagpipe.bench.peers) instead of the"
          + " project's bench/ probes.")
  String peers;

  /** The probes these options select. */
  PeerTools tools(BenchSettings bench) {
    return bench.tools(peers);
  }
}
