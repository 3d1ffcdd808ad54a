package io.bagpipe.api;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code bagpipe.cluster} settings of a node, and the Pekko configuration
 * they imply (cluster provider, Artery address, seed nodes, split-brain resolver).
 *
 * @param host address this node binds and advertises to the others
 * @param port Artery port (0 = any free port)
 * @param seedNodes {@code host:port} of the nodes a new node contacts; empty on the first node
 * @param minWorkers workers, over all nodes, that must be up before training starts
 * @param systemName the ActorSystem name, the same on every node of a run
 * @param joining this node joins a run already under way: its workers are healed from a live one,
 *     and the run's checkpoints are neither checked nor read
 * @param joinTimeout how long a joining node tries to reach the running cluster before it gives up
 */
public record ClusterSettings(String host, int port, List<String> seedNodes, int minWorkers, String systemName,
    boolean joining, java.time.Duration joinTimeout) {

  private static final String KEY = "bagpipe.cluster.";

  public ClusterSettings {
    seedNodes = List.copyOf(seedNodes);
    if (host.isBlank()) {
      throw new IllegalArgumentException(KEY + "host must name this node's address, e.g. 10.0.0.5");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(KEY + "port must be 0..65535, got " + port);
    }
    for (String s : seedNodes) {
      if (!s.matches("[^:\\s]+:[0-9]{1,5}")) {
        throw new IllegalArgumentException(KEY + "seed-nodes: '" + s + "' is not host:port");
      }
    }
    if (minWorkers < 1) {
      throw new IllegalArgumentException(KEY + "min-workers must be >= 1, got " + minWorkers);
    }
    if (!systemName.matches("[A-Za-z0-9][A-Za-z0-9_-]*")) {
      throw new IllegalArgumentException(KEY + "system-name must be letters, digits, '-' or '_', got " + systemName);
    }
  }

  /** Reads {@code bagpipe.cluster} (pass {@code config.getConfig("bagpipe.cluster")}). */
  public static ClusterSettings fromConfig(Config c) {
    try {
      return new ClusterSettings(c.getString("host"), c.getInt("port"), c.getStringList("seed-nodes"),
          c.getInt("min-workers"), c.getString("system-name"), c.getBoolean("joining"), c.getDuration("join-timeout"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.cluster: " + e.getMessage(), e);
    }
  }

  /** {@code config} with Pekko set up for a cluster node as these settings say. */
  public Config applyTo(Config config) {
    List<String> seeds = new ArrayList<>();
    for (String s : seedNodes) {
      seeds.add("pekko://" + systemName + "@" + s);
    }
    Config joiner = joining
        ? ConfigFactory.empty().withValue("pekko.cluster.shutdown-after-unsuccessful-join-seed-nodes",
            ConfigValueFactory.fromAnyRef(joinTimeout.toMillis() + "ms"))
        : ConfigFactory.empty();
    return joiner
        .withValue("pekko.actor.provider", ConfigValueFactory.fromAnyRef("cluster"))
        .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(host))
        .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port))
        .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seeds))
        .withFallback(config);
  }
}
