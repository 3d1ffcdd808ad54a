package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Nodes that find each other through Pekko Management's Cluster Bootstrap
 * ({@code bagpipe.cluster.discovery = bootstrap}) with {@code config} discovery and no seed
 * nodes. Each node has its own loopback address (127.0.0.1, .2, .3) and the same management
 * port, as pods have their own IPs and one container port.
 */
class ClusterBootstrapTest {

  @TempDir static Path dir;
  static Path data;
  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  @BeforeAll
  static void data() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
  }

  /** A port free on 127.0.0.1; the other loopback addresses share its number. */
  private static final int EPOCHS = 40;

  static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /** A node on {@code host} that discovers the contact points {@code hosts} through config discovery. */
  static BagpipeRun node(String service, String host, List<String> hosts, int managementPort, int required,
      Path runDir, String... more) {
    StringBuilder endpoints = new StringBuilder();
    for (String h : hosts) {
      endpoints.append(endpoints.isEmpty() ? "" : ",").append("{host=\"").append(h).append("\",port=")
          .append(managementPort).append('}');
    }
    List<String> settings = new ArrayList<>(List.of(
        "bagpipe.cluster.discovery=bootstrap",
        "bagpipe.cluster.host=" + host,
        "bagpipe.cluster.port=0",
        "bagpipe.cluster.system-name=" + service,
        "bagpipe.cluster.bootstrap.service-name=" + service,
        "bagpipe.cluster.bootstrap.discovery-method=config",
        "bagpipe.cluster.bootstrap.required-contact-points=" + required,
        "bagpipe.cluster.bootstrap.management-port=" + managementPort,
        "pekko.discovery.config.services." + service + ".endpoints=[" + endpoints + "]",
        // Bootstrap's probing, faster than its defaults (a 5 s stable margin) for a test.
        "pekko.management.cluster.bootstrap.contact-point-discovery.stable-margin=1s",
        "pekko.management.cluster.bootstrap.contact-point-discovery.interval=300ms",
        "pekko.management.cluster.bootstrap.contact-point.probe-interval=300ms",
        "bagpipe.allreduce.timeout=20s"));
    settings.addAll(List.of(more));
    return Bagpipe.startNode(TrainingFixtures.config(data, runDir, settings.toArray(String[]::new)));
  }

  static int status(String host, int port, String path) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create("http://" + host + ":" + port + "/" + path))
          .timeout(Duration.ofSeconds(3)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  @Test
  void threeNodesFormAClusterThroughTheBootstrapAndTrainWithNoSeedNodes() throws Exception {
    int port = freePort();
    List<String> hosts = List.of("127.0.0.1", "127.0.0.2", "127.0.0.3");
    Path run = dir.resolve("three");
    List<BagpipeRun> nodes = new ArrayList<>();
    for (String h : hosts) {
      // Enough epochs that the run is still going while the test probes /ready and membership:
      // two epochs of this data set can end in under a second, before a probe sees every node.
      nodes.add(node("bagpipe-boot", h, hosts, port, 3, run, "bagpipe.cluster.min-workers=3",
          "bagpipe.train.epochs=" + EPOCHS));
      // Pods come up one after another; each node's management endpoint answers before the next starts.
      long up = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (status(h, port, "alive") != 200 && System.nanoTime() < up) {
        Thread.sleep(50);
      }
    }
    RunTest.Recorder events = new RunTest.Recorder();
    nodes.get(0).events().subscribe(events);
    try {
      // Every node becomes ready: Up in one cluster of three, its worker registered.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      List<String> waiting = new ArrayList<>(hosts);
      while (!waiting.isEmpty() && System.nanoTime() < deadline) {
        waiting.removeIf(h -> status(h, port, "ready") == 200);
        Thread.sleep(100);
      }
      StringBuilder ended = new StringBuilder();
      for (int i = 0; i < hosts.size(); i++) {
        var r = nodes.get(i).result().toCompletableFuture();
        if (r.isDone()) {
          ended.append("; ").append(hosts.get(i)).append(" ended: ")
              .append(r.handle((ok, e) -> e == null ? String.valueOf(ok) : String.valueOf(e)).join());
        }
      }
      assertEquals(List.of(), waiting, "nodes whose /ready never answered 200" + ended);
      for (int i = 0; i < hosts.size(); i++) {
        assertEquals(200, status(hosts.get(i), port, "alive"), "/alive of " + hosts.get(i));
        Cluster c = Cluster.get(nodes.get(i).system());
        long up = java.util.stream.StreamSupport.stream(c.state().getMembers().spliterator(), false)
            .filter(m -> m.status() == MemberStatus.up()).count();
        assertEquals(3, up, hosts.get(i) + " sees three Up members");
        assertTrue(nodes.get(i).system().settings().config().getStringList("pekko.cluster.seed-nodes").isEmpty());
      }
      // The cluster the bootstrap formed trains the run to its end.
      RunResult r = nodes.get(0).result().toCompletableFuture().get(4, TimeUnit.MINUTES);
      for (BagpipeRun n : nodes) {
        n.result().toCompletableFuture().get(1, TimeUnit.MINUTES);
      }
      events.await();
      assertEquals(EPOCHS, r.epochsCompleted());
      assertEquals(3, events.of(RunEvent.WorkerJoined.class).size());
    } finally {
      for (BagpipeRun n : nodes) {
        n.system().terminate();
      }
    }
  }

  /** A node whose required contact points do not all answer forms no cluster: alive, but not ready. */
  @Test
  void aNodeThatFindsTooFewContactPointsIsAliveButNotReady() throws Exception {
    int port = freePort();
    BagpipeRun lonely = node("bagpipe-alone", "127.0.0.1", List.of("127.0.0.1", "127.0.0.7"), port, 2,
        dir.resolve("alone"));
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (status("127.0.0.1", port, "alive") != 200 && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertEquals(200, status("127.0.0.1", port, "alive"));
      Thread.sleep(3000); // longer than the stable margin: a node would have formed a cluster by now
      assertEquals(500, status("127.0.0.1", port, "ready"));
      assertTrue(Cluster.get(lonely.system()).state().getMembers().iterator().hasNext() == false,
          "the node never joined a cluster");
    } finally {
      lonely.system().terminate();
    }
    assertThrows(ExecutionException.class, () -> lonely.result().toCompletableFuture().get(1, TimeUnit.MINUTES));
  }

  /** bagpipe.cluster.bootstrap.* become Pekko Management's keys; a pekko.management key the user set wins. */
  @Test
  void bootstrapSettingsBecomePekkoManagementsUnlessTheUserSetThem() {
    var config = TrainingFixtures.config(data, dir.resolve("y"), "bagpipe.cluster.discovery=bootstrap",
        "bagpipe.cluster.host=10.1.2.3", "bagpipe.cluster.bootstrap.service-name=run-7",
        "bagpipe.cluster.bootstrap.required-contact-points=5",
        "pekko.management.cluster.bootstrap.contact-point-discovery.discovery-method=pekko-dns");
    var node = ClusterSettings.fromConfig(config.getConfig("bagpipe.cluster")).applyTo(config);
    String d = "pekko.management.cluster.bootstrap.contact-point-discovery.";
    assertEquals("10.1.2.3", node.getString("pekko.management.http.hostname"));
    assertEquals(7626, node.getInt("pekko.management.http.port"));
    assertEquals("run-7", node.getString(d + "service-name"));
    assertEquals(5, node.getInt(d + "required-contact-point-nr"));
    assertEquals("pekko-dns", node.getString(d + "discovery-method"), "the user's own key");
    assertEquals(NodeHealth.Readiness.class.getName(),
        node.getString("pekko.management.health-checks.readiness-checks.bagpipe-node"));
    var seeds = TrainingFixtures.config(data, dir.resolve("y"));
    var plain = ClusterSettings.fromConfig(seeds.getConfig("bagpipe.cluster")).applyTo(seeds);
    assertTrue(plain.getConfig("pekko.management.health-checks.readiness-checks").isEmpty(),
        "seed-node clusters start no health checks");
  }

  /** A management port another process holds ends the node's start with the keys to change. */
  @Test
  void aTakenManagementPortIsAnErrorNamingTheKey() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      var e = assertThrows(IllegalStateException.class, () -> node("bagpipe-taken", "127.0.0.1",
          List.of("127.0.0.1"), taken.getLocalPort(), 1, dir.resolve("taken")));
      assertTrue(e.getMessage().contains("bagpipe.cluster.bootstrap.management-port"), e.getMessage());
      assertTrue(e.getMessage().contains("127.0.0.1:" + taken.getLocalPort()), e.getMessage());
    }
  }

  @Test
  void bootstrapWithSeedNodesIsRefusedNamingTheKey() {
    var e = assertThrows(IllegalArgumentException.class, () -> ClusterSettings.fromConfig(TrainingFixtures.config(
        data, dir.resolve("x"), "bagpipe.cluster.discovery=bootstrap", "bagpipe.cluster.seed-nodes=[\"h:1\"]")
        .getConfig("bagpipe.cluster")));
    assertTrue(e.getMessage().contains("bagpipe.cluster.seed-nodes"), e.getMessage());
    var bad = assertThrows(IllegalArgumentException.class, () -> ClusterSettings.fromConfig(TrainingFixtures.config(
        data, dir.resolve("x"), "bagpipe.cluster.discovery=gossip").getConfig("bagpipe.cluster")));
    assertTrue(bad.getMessage().contains("bagpipe.cluster.discovery"), bad.getMessage());
  }
}
