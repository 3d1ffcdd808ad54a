package io.bagpipe.cli;

import com.typesafe.config.Config;
import java.nio.file.Path;

/**
 * The {@code bagpipe.bench} settings.
 *
 * @param peers the peer pipeline and limit probes (read_limit.c, seed_mil.py, ...)
 * @param peerData the peer's benchmark data set (made by make_slides.py when missing)
 * @param out where reports and compiled probes go
 */
record BenchSettings(Path peers, Path peerData, Path out) {

  /** The data set to measure on: {@code option} when given, else the peer's (made when missing). */
  Path data(Path option, PeerTools tools) throws java.io.IOException, InterruptedException {
    if (option != null) {
      return option.toAbsolutePath().normalize();
    }
    Path dir = peerData.toAbsolutePath().normalize();
    tools.ensurePeerData(dir);
    return dir;
  }

  /** The peer pipeline and probes, compiled into {@code out/bin}. */
  PeerTools tools() {
    return new PeerTools(peers, out.resolve("bin"));
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
    return new BenchSettings(Path.of(c.getString("peers")), Path.of(c.getString("peer-data")), Path.of(c.getString("out")));
  }
}
