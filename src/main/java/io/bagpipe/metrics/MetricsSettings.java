package io.bagpipe.metrics;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;

/**
 * The {@code bagpipe.metrics} settings: whether and where a node serves its Prometheus endpoint.
 *
 * @param enabled false: no endpoint
 * @param bind the address the endpoint listens on
 * @param port the TCP port, 0 for a free one
 * @param runId the {@code run} label of the run's series; empty: the run directory's name
 */
public record MetricsSettings(boolean enabled, String bind, int port, String runId) {

  private static final String KEY = "bagpipe.metrics.";

  public MetricsSettings {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(KEY + "port must be 0 (a free port) or 1-65535, got " + port);
    }
    if (bind == null || bind.isBlank()) {
      throw new IllegalArgumentException(KEY + "bind must name an address to listen on, e.g. \"127.0.0.1\" or"
          + " \"0.0.0.0\"");
    }
    if (runId == null || !runId.chars().allMatch(c -> c >= 0x20 && c != '"' && c != '\\')) {
      throw new IllegalArgumentException(KEY + "run-id must be printable text without quotes or backslashes, got "
          + runId);
    }
  }

  /** Reads the {@code bagpipe.metrics} subtree. */
  public static MetricsSettings fromConfig(Config c) {
    try {
      return new MetricsSettings(c.getBoolean("enabled"), c.getString("bind"), c.getInt("port"),
          c.getString("run-id"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.metrics: " + e.getMessage(), e);
    }
  }

  /** These settings on {@code port}. */
  public MetricsSettings withPort(int port) {
    return new MetricsSettings(enabled, bind, port, runId);
  }
}
