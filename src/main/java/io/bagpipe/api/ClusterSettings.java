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
 * @param discovery how a node finds the others: through {@code seedNodes}, or Pekko Management's
 *     Cluster Bootstrap ({@code bootstrap})
 * @param bootstrap the bootstrap's settings, used when {@code discovery} is {@link Discovery#BOOTSTRAP}
 */
public record ClusterSettings(String host, int port, List<String> seedNodes, int minWorkers, String systemName,
    boolean joining, java.time.Duration joinTimeout, Discovery discovery, Bootstrap bootstrap) {

  /** {@code bagpipe.cluster.discovery}: how a starting node finds the cluster. */
  public enum Discovery {
    /** Joins through {@code bagpipe.cluster.seed-nodes}; the node with none forms the cluster. */
    SEEDS,
    /**
     * Pekko Management's Cluster Bootstrap: the node asks a discovery method (Kubernetes API,
     * DNS, a static list) for contact points, probes their management endpoints, and joins the
     * cluster they report or, once every required one answered and none is in a cluster,
     * the contact point with the lowest address forms it.
     */
    BOOTSTRAP;

    static Discovery parse(String s) {
      return switch (s) {
        case "seeds" -> SEEDS;
        case "bootstrap" -> BOOTSTRAP;
        default -> throw new IllegalArgumentException(KEY + "discovery must be seeds or bootstrap, got '" + s + "'");
      };
    }
  }

  /**
   * {@code bagpipe.cluster.bootstrap}: Pekko Management's HTTP endpoint (contact point and
   * health checks) and the contact-point discovery of its Cluster Bootstrap.
   *
   * @param serviceName the service whose instances are the contact points (the Kubernetes
   *     pods labelled {@code app=<serviceName>}, the DNS name, or the {@code config} service)
   * @param discoveryMethod a Pekko Discovery method: {@code kubernetes-api}, {@code pekko-dns}, {@code config}
   * @param requiredContactPoints contact points that must answer before a new cluster is formed
   * @param managementPort port of the management endpoint (contact point, {@code /ready}, {@code /alive})
   */
  public record Bootstrap(String serviceName, String discoveryMethod, int requiredContactPoints, int managementPort) {

    public Bootstrap {
      if (!serviceName.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
        throw new IllegalArgumentException(KEY + "bootstrap.service-name must be a service name (letters, digits,"
            + " '.', '-', '_'), got '" + serviceName + "'");
      }
      if (discoveryMethod.isBlank()) {
        throw new IllegalArgumentException(KEY + "bootstrap.discovery-method must name a Pekko Discovery method,"
            + " e.g. kubernetes-api, pekko-dns or config");
      }
      if (requiredContactPoints < 1) {
        throw new IllegalArgumentException(KEY + "bootstrap.required-contact-points must be >= 1, got "
            + requiredContactPoints);
      }
      if (managementPort < 1 || managementPort > 65535) {
        throw new IllegalArgumentException(KEY + "bootstrap.management-port must be 1..65535 (the other nodes"
            + " contact it, so it cannot be picked at random), got " + managementPort);
      }
    }

    static Bootstrap fromConfig(Config c) {
      return new Bootstrap(c.getString("service-name"), c.getString("discovery-method"),
          c.getInt("required-contact-points"), c.getInt("management-port"));
    }
  }

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
    if (discovery == Discovery.BOOTSTRAP && !seedNodes.isEmpty()) {
      throw new IllegalArgumentException(KEY + "seed-nodes must be empty when " + KEY + "discovery = bootstrap"
          + " (the bootstrap finds the cluster); got " + seedNodes);
    }
  }

  /** True when this node finds the cluster through Pekko Management's Cluster Bootstrap. */
  public boolean bootstraps() {
    return discovery == Discovery.BOOTSTRAP;
  }

  /** Reads {@code bagpipe.cluster} (pass {@code config.getConfig("bagpipe.cluster")}). */
  public static ClusterSettings fromConfig(Config c) {
    try {
      return new ClusterSettings(c.getString("host"), c.getInt("port"), c.getStringList("seed-nodes"),
          c.getInt("min-workers"), c.getString("system-name"), c.getBoolean("joining"), c.getDuration("join-timeout"),
          Discovery.parse(c.getString("discovery")), Bootstrap.fromConfig(c.getConfig("bootstrap")));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.cluster: " + e.getMessage(), e);
    }
  }

  /**
   * {@code config} with Pekko set up for a cluster node as these settings say; with
   * {@code bootstrap}, also Pekko Management (bound to {@code host}) and its Cluster Bootstrap
   * and health checks. Pekko keys set in {@code config} itself win over the bootstrap's.
   */
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
        .withFallback(bootstraps() ? bootstrapConfig(config) : ConfigFactory.empty())
        .withValue("pekko.actor.provider", ConfigValueFactory.fromAnyRef("cluster"))
        .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(host))
        .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port))
        .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seeds))
        .withFallback(config);
  }

  /**
   * Pekko Management's settings for the bootstrap. Only keys {@code config} leaves unset are
   * filled, so the discovery method's own keys (e.g. {@code pekko.discovery.kubernetes-api.*})
   * and any {@code pekko.management.*} tuning stay the user's.
   */
  private Config bootstrapConfig(Config config) {
    String b = "pekko.management.cluster.bootstrap.contact-point-discovery.";
    Config mine = ConfigFactory.empty()
        .withValue("pekko.management.http.hostname", ConfigValueFactory.fromAnyRef(host))
        .withValue("pekko.management.http.port", ConfigValueFactory.fromAnyRef(bootstrap.managementPort()))
        .withValue(b + "service-name", ConfigValueFactory.fromAnyRef(bootstrap.serviceName()))
        .withValue(b + "discovery-method", ConfigValueFactory.fromAnyRef(bootstrap.discoveryMethod()))
        .withValue(b + "required-contact-point-nr", ConfigValueFactory.fromAnyRef(bootstrap.requiredContactPoints()))
        .withValue("pekko.management.health-checks.readiness-checks.bagpipe-node",
            ConfigValueFactory.fromAnyRef(NodeHealth.Readiness.class.getName()))
        .withValue("pekko.management.health-checks.liveness-checks.bagpipe-node",
            ConfigValueFactory.fromAnyRef(NodeHealth.Liveness.class.getName()));
    Config kept = ConfigFactory.empty();
    for (var e : mine.entrySet()) {
      if (!config.hasPath(e.getKey()) || isLibraryDefault(config, e.getKey())) {
        kept = kept.withValue(e.getKey(), e.getValue());
      }
    }
    return kept;
  }

  /** True when {@code key}'s value in {@code config} is a default from a {@code reference.conf} on the class path. */
  private static boolean isLibraryDefault(Config config, String key) {
    return "reference.conf".equals(config.getValue(key).origin().resource());
  }
}
