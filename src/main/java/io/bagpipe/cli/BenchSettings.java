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
  static BenchSettings fromConfig(Config c) {
    return new BenchSettings(Path.of(c.getString("peers")), Path.of(c.getString("peer-data")), Path.of(c.getString("out")));
  }
}
