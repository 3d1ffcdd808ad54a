package io.bagpipe.metrics;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * A node's Prometheus endpoint: an HTTP server answering {@code /metrics} with a
 * {@link NodeMetrics} registry, and its target file in the run directory,
 * {@code <run-dir>/metrics-targets/<host>_<port>.json}, in Prometheus's {@code file_sd}
 * format, through which {@code bagpipe status} (and a Prometheus pointed at that folder)
 * finds every node of a run. {@link #close()} stops the server and removes the file, so
 * the folder lists the endpoints of nodes that are up (and of ones killed outright).
 */
public final class MetricsEndpoint implements AutoCloseable {

  /** The folder of a run directory that holds its nodes' target files. */
  public static final String TARGETS = "metrics-targets";

  private final HTTPServer server;
  private final String host;
  private final Path targetFile;
  private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

  private MetricsEndpoint(HTTPServer server, String host, Path targetFile) {
    this.server = server;
    this.host = host;
    this.targetFile = targetFile;
  }

  /**
   * Serves {@code metrics} as {@code settings} say and writes the target file into
   * {@code runDir}. {@code host} is how other machines reach this one (the cluster's
   * host), used when {@code bind} is a wildcard address.
   *
   * @throws UncheckedIOException naming {@code bagpipe.metrics.port} or {@code bind} when the server cannot
   *     listen, or the target file when it cannot be written (the server is stopped then)
   */
  public static MetricsEndpoint start(MetricsSettings settings, NodeMetrics metrics, Path runDir, String host) {
    HTTPServer server;
    try {
      server = HTTPServer.builder().hostname(settings.bind()).port(settings.port()).registry(metrics.registry())
          .buildAndStart();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serve metrics on " + settings.bind() + ":" + settings.port() + " ("
          + e.getMessage() + "); choose another bagpipe.metrics.port (0: a free one) or bagpipe.metrics.bind, or set"
          + " bagpipe.metrics.enabled = false", e);
    }
    String advertised = advertised(settings.bind(), host);
    Path dir = runDir.resolve(TARGETS);
    Path file = dir.resolve(advertised.replaceAll("[^A-Za-z0-9.-]", "-") + "_" + server.getPort() + ".json");
    try {
      Files.createDirectories(dir);
      Path tmp = dir.resolve(file.getFileName() + ".tmp");
      Files.writeString(tmp, "[{\"targets\": [\"" + hostPort(advertised, server.getPort()) + "\"], \"labels\": {}}]\n",
          StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      server.close();
      throw new UncheckedIOException("cannot write the metrics target file " + file + " (" + e.getMessage() + ")", e);
    }
    return new MetricsEndpoint(server, advertised, file);
  }

  /** The port the endpoint listens on. */
  public int port() {
    return server.getPort();
  }

  /** The endpoint's URL as other machines reach it. */
  public String url() {
    return "http://" + hostPort(host, server.getPort()) + "/metrics";
  }

  /** Stops the server and removes the target file; once. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    server.close();
    try {
      Files.deleteIfExists(targetFile);
    } catch (IOException e) {
      // A stale file names an endpoint that no longer answers; bagpipe status says so.
    }
  }

  private static String advertised(String bind, String host) {
    try {
      if (!InetAddress.getByName(bind).isAnyLocalAddress()) {
        return bind;
      }
    } catch (IOException e) {
      return bind; // the server listened on it, so this does not happen
    }
    if (host != null && !host.isBlank()) {
      return host;
    }
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "127.0.0.1";
    }
  }

  private static String hostPort(String host, int port) {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }
}
