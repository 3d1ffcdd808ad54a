package io.bagpipe.cli;

import com.typesafe.config.Config;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe launch --nodes N}: N {@code bagpipe node} processes on this host
 * (like torchrun's {@code --nproc-per-node}), the first one the seed, all with
 * the same configuration. Node 0's progress is shown as it is; the other nodes'
 * lines are prefixed with their index. A node killed by a signal is left behind (the
 * others go on training) or, with {@code --restarts}, started again to rejoin the
 * run. Ends when every node has ended: with success when a node finished the run and
 * none failed on its own. Ctrl-C stops the run gracefully on every node and waits
 * for them. When
 * {@code bagpipe.data.dir} is left at its default, the nodes train the demo's
 * synthetic data with the demo's settings, so {@code bagpipe launch --nodes 2} is
 * the demo on two nodes.
 */
@Command(name = "launch", mixinStandardHelpOptions = true,
    description = "Start N nodes of one run on this host and stream their merged progress.")
final class LaunchCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Option(names = "--nodes", required = true, description = "Number of node processes.")
  int nodes;

  @Option(names = "--restarts", description = "Start a node again, and only that node, when it is killed (a signal),"
      + " up to this many times in all; it rejoins the running run, healed from a live node (default: ${DEFAULT-VALUE}).")
  int restarts = 0;

  @Option(names = "--no-secret", description = "Leave the nodes' gradient data ports open to anyone instead of"
      + " making a secret for this run (when bagpipe.security.secret-file is not set); for measuring what the"
      + " authentication costs.")
  boolean noSecret;

  @Option(names = "--workers-per-node", description = "CPU workers per node, one intra-op thread each (default: ${DEFAULT-VALUE}).")
  int workersPerNode = 1;

  @Override
  public Integer call() throws Exception {
    if (nodes < 1 || workersPerNode < 1) {
      throw new IllegalArgumentException("--nodes and --workers-per-node must be >= 1");
    }
    // fail here, once, on a bad configuration
    Config base = ConfigOptions.load(configOptions.configFile, configOptions.overrides);
    List<String> demo = List.of();
    if (!ConfigOptions.setByUser(base, "bagpipe.data.dir")) {
      System.err.println("launch: bagpipe.data.dir is not set, so the nodes train the demo data as `bagpipe demo` does");
      demo = DemoCommand.prepare(base);
    }
    // Every node gets a fixed port and every node's address as a seed, node 0 first: a
    // node started again after a kill finds the cluster through whichever is alive.
    List<Integer> ports = new ArrayList<>();
    List<ServerSocket> probes = new ArrayList<>();
    try {
      for (int i = 0; i < nodes; i++) {
        ServerSocket probe = new ServerSocket(0);
        probes.add(probe);
        ports.add(probe.getLocalPort());
      }
    } finally {
      for (ServerSocket probe : probes) {
        probe.close();
      }
    }
    // What every node's command has; nodeCommand adds its port and seeds.
    List<String> cmd = new ArrayList<>();
    cmd.addAll(javaCommand());
    cmd.add("node");
    if (configOptions.configFile != null) {
      cmd.addAll(List.of("--config", configOptions.configFile.toAbsolutePath().toString()));
    }
    for (String s : demo) {
      cmd.addAll(List.of("--set", s));
    }
    if (!ConfigOptions.setByUser(base, STABLE_AFTER)) {
      // Nodes on one host are not split by a network, only lost: the resolver need not
      // wait as long before it downs one, and the Coordinator moves sooner (docs/cluster.md).
      cmd.addAll(List.of("--set", STABLE_AFTER + "=" + base.getDuration("bagpipe.cluster.launch-stable-after")
          .toMillis() + "ms"));
    }
    for (String s : configOptions.overrides) {
      cmd.addAll(List.of("--set", s));
    }
    if (!noSecret && !ConfigOptions.setByUser(base, "bagpipe.security.secret-file")) {
      // One secret per run, readable by this user only: the nodes' data ports admit each other and nobody else.
      cmd.addAll(List.of("--set", "bagpipe.security.secret-file=\"" + KeysCommand.runSecret() + "\""));
    }
    cmd.addAll(List.of("--host", "127.0.0.1", "--min-workers", Integer.toString(nodes * workersPerNode),
        "--set", "bagpipe.worker.devices=[" + String.join(",", Collections.nCopies(workersPerNode, "cpu")) + "]",
        "--set", "bagpipe.worker.intra-op-threads=1",
        // launch gives every node its seeds, whatever discovery the configuration names.
        "--set", "bagpipe.cluster.discovery=seeds"));
    List<String> common = List.copyOf(cmd);
    // A fixed metrics port would clash on one host: node i serves its endpoint at that port + i.
    int metricsPort = base.getInt("bagpipe.metrics.port");
    if (metricsPort > 0 && metricsPort + nodes - 1 > 65535) {
      throw new IllegalArgumentException("bagpipe.metrics.port = " + metricsPort + " leaves no port for node "
          + (nodes - 1) + " (node i serves at the port + i); choose a lower one, or 0 for free ports");
    }
    int[] portOf = ports.stream().mapToInt(Integer::intValue).toArray();
    Process[] children = new Process[nodes];
    List<Thread> pumps = new ArrayList<>();
    AtomicBoolean stopping = new AtomicBoolean();
    // A node waits bagpipe.train.stop-timeout for its step and checkpoint; the launch a little longer.
    long stopWait = base.getDuration("bagpipe.train.stop-timeout").toSeconds() + 10;
    Thread stopper = new Thread(() -> {
      // Ctrl-C: every node stops after its current step with a checkpoint; wait for them.
      stopping.set(true);
      synchronized (children) {
        for (Process p : children) {
          if (p != null) {
            p.destroy();
          }
        }
      }
      for (Process p : children) {
        try {
          if (p != null && !p.waitFor(stopWait, TimeUnit.SECONDS)) {
            System.err.println("launch: a node did not stop within " + stopWait + " s; killing it");
            p.destroyForcibly();
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }, "bagpipe-launch-stop");
    Runtime.getRuntime().addShutdownHook(stopper);
    for (int i = 0; i < nodes; i++) {
      start(i, nodeCommand(common, i, portOf[i], ports, false, metricsPort), children, pumps);
    }
    System.err.printf("launch: %d nodes x %d worker(s) on this host, seed 127.0.0.1:%d%s%n", nodes, workersPerNode,
        ports.getFirst(), restarts > 0 ? ", up to " + restarts + " restart(s) of killed nodes" : "");
    // A node killed by a signal is one the run goes on without (docs/adr/0008), and one
    // that is started again while restarts are left. The launch fails only when a node
    // failed on its own, or no node finished the run.
    int[] codes = new int[nodes];
    boolean[] done = new boolean[nodes];
    int restartsLeft = restarts;
    int running = nodes;
    long finishedAt = 0;
    while (running > 0) {
      Thread.sleep(100);
      for (int i = 0; i < nodes; i++) {
        if (done[i] || children[i].isAlive()) {
          continue;
        }
        int c = children[i].exitValue();
        if (c > 128 && restartsLeft > 0 && !stopping.get() && anotherRuns(children, i)) {
          restartsLeft--;
          System.err.printf("launch: node %d was killed (signal %d); starting it again (%d restart(s) left)%n", i,
              c - 128, restartsLeft);
          // A new port: the killed incarnation stays a member until the split-brain resolver
          // downs it, and a new address joins without waiting for that. Its seeds are the
          // nodes alive now: after earlier restarts the first addresses may all be gone.
          portOf[i] = freePort();
          List<Integer> seeds = new ArrayList<>();
          for (int j = 0; j < nodes; j++) {
            if (j != i && children[j].isAlive()) {
              seeds.add(portOf[j]);
            }
          }
          start(i, nodeCommand(common, i, portOf[i], seeds, true, metricsPort), children, pumps);
          continue;
        }
        if (c > 128) {
          System.err.printf("launch: node %d was killed (signal %d)%n", i, c - 128);
        }
        codes[i] = c;
        done[i] = true;
        running--;
        if (c == 0 && finishedAt == 0) {
          finishedAt = System.nanoTime();
        }
      }
      if (finishedAt != 0 && System.nanoTime() - finishedAt > TimeUnit.SECONDS.toNanos(LINGER_SECONDS)) {
        // The run is over; a node still up (one started again too late to join) is stopped.
        for (int i = 0; i < nodes; i++) {
          if (!done[i] && children[i].isAlive()) {
            System.err.printf("launch: the run ended %d s ago; stopping node %d%n", LINGER_SECONDS, i);
            children[i].destroy();
          }
        }
        finishedAt = Long.MAX_VALUE / 2;
      }
    }
    for (Thread t : pumps) {
      t.join();
    }
    try {
      Runtime.getRuntime().removeShutdownHook(stopper);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running and stops the children itself
    }
    int failed = 0;
    boolean finished = false;
    for (int c : codes) {
      if (c == 0) {
        finished = true;
      } else if (c <= 128 && failed == 0) {
        failed = c;
      }
    }
    return failed != 0 ? failed : finished ? 0 : 1;
  }

  private static final String STABLE_AFTER = "pekko.cluster.split-brain-resolver.stable-after";
  /** How long nodes may stay up after one finished the run. */
  private static final int LINGER_SECONDS = 10;

  private static int freePort() throws IOException {
    try (ServerSocket probe = new ServerSocket(0)) {
      return probe.getLocalPort();
    }
  }

  /**
   * Node {@code i}'s command: {@code common} with its port, its seeds, after a kill {@code --join}, and with a
   * fixed {@code metricsPort} (0: each node picks a free one) its own metrics port, {@code metricsPort + i}.
   */
  static List<String> nodeCommand(List<String> common, int i, int port, List<Integer> seeds, boolean join,
      int metricsPort) {
    List<String> cmd = new ArrayList<>(common);
    cmd.addAll(List.of("--port", Integer.toString(port)));
    if (metricsPort > 0) {
      cmd.addAll(List.of("--set", "bagpipe.metrics.port=" + (metricsPort + i)));
    }
    for (int seed : seeds) {
      cmd.addAll(List.of("--seed", "127.0.0.1:" + seed));
    }
    if (i > 0) {
      cmd.add("--no-progress");
    }
    if (join) {
      cmd.add("--join");
    }
    return cmd;
  }

  private static boolean anotherRuns(Process[] children, int except) {
    for (int i = 0; i < children.length; i++) {
      if (i != except && children[i].isAlive()) {
        return true;
      }
    }
    return false;
  }

  private static void start(int i, List<String> cmd, Process[] children, List<Thread> pumps) throws IOException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    synchronized (children) {
      children[i] = p;
    }
    String prefix = i == 0 ? "" : "[node-" + i + "] ";
    pumps.add(Thread.ofPlatform().name("node-" + i + "-output").start(() -> relay(p, prefix)));
  }

  /** The java binary and JVM flags of this process, and its classpath, to start nodes alike. */
  static List<String> javaCommand() {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (!arg.startsWith("-agentlib") && !arg.startsWith("-javaagent")) {
        cmd.add(arg);
      }
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
    return cmd;
  }

  private static void relay(Process p, String prefix) {
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        synchronized (System.err) {
          System.err.println(prefix + line);
        }
      }
    } catch (IOException e) {
      System.err.println(prefix + "(output lost: " + e.getMessage() + ")");
    }
  }
}
