package io.bagpipe.cli;

import com.typesafe.config.Config;
import java.nio.file.Path;

/**
 * The {@code bagpipe.bench} settings.
 *
 * @param probes the project's probes (read_limit.c, mil_pipeline.py, ...); a relative
 *     path is taken from the checkout Bagpipe runs from, so a clone finds its own
 *     {@code bench/} wherever it is started
 * @param peers the outside peers folder used instead with {@code --peers}, as a cross-check
 * @param peerData the benchmark data set (made by the probes' data maker when missing)
 * @param out where reports and compiled probes go
 */
record BenchSettings(Path probes, Path peers, Path peerData, Path out) {

  /** The data set to measure on: {@code option} when given, else the benchmark's (made when missing). */
  Path data(Path option, PeerTools tools) throws java.io.IOException, InterruptedException {
    if (option != null) {
      return option.toAbsolutePath().normalize();
    }
    Path dir = peerData.toAbsolutePath().normalize();
    tools.ensureData(dir);
    return dir;
  }

  /** The project's probes, compiled into {@code out/bin/project}. */
  PeerTools tools() {
    return tools(null);
  }

  /**
   * The probes to run: the project's when {@code peersOption} is null, else the
   * peers folder it names (empty: {@code bagpipe.bench.peers}); compiled under {@code out/bin}.
   */
  PeerTools tools(String peersOption) {
    Path bin = out.resolve("bin");
    if (peersOption == null) {
      return new PeerTools(PeerTools.Kind.PROJECT, probes, bin);
    }
    return new PeerTools(PeerTools.Kind.PEERS, peersOption.isEmpty() ? peers : Path.of(peersOption), bin);
  }

  /** Prints {@code markdown} and saves it as {@code out/KIND-TIMESTAMP.md}. */
  void report(String kind, CharSequence markdown) throws java.io.IOException {
    java.nio.file.Files.createDirectories(out);
    Path file = out.resolve(kind + "-" + java.time.LocalDateTime.now()
        .format(java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + ".md");
    java.nio.file.Files.writeString(file, markdown);
    System.out.print(markdown);
    System.out.println("\nreport: " + file);
  }

  static BenchSettings fromConfig(Config c) {
    return new BenchSettings(probes(c.getString("probes"), PeerTools.checkout()), Path.of(c.getString("peers")),
        Path.of(c.getString("peer-data")), Path.of(c.getString("out")));
  }

  /** {@code bagpipe.bench.probes}: absolute as given, relative from {@code checkout} (else the working folder). */
  static Path probes(String value, Path checkout) {
    if (value.isBlank()) {
      throw new IllegalArgumentException("bagpipe.bench.probes is empty; set it to the checkout's bench/ folder");
    }
    Path p = Path.of(value);
    return p.isAbsolute() || checkout == null ? p : checkout.resolve(p);
  }
}
