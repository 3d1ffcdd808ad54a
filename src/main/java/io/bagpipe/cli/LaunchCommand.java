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
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe launch --nodes N}: N {@code bagpipe node} processes on this host
 * (like torchrun's {@code --nproc-per-node}), the first one the seed, all with
 * the same configuration. Node 0's progress is shown as it is; the other nodes'
 * lines are prefixed with their index. Ends when every node has ended, with the
 * first non-zero exit code; Ctrl-C stops the run gracefully on every node. When
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
    int seedPort;
    try (ServerSocket probe = new ServerSocket(0)) {
      seedPort = probe.getLocalPort();
    }
    List<Process> children = new ArrayList<>();
    List<Thread> pumps = new ArrayList<>();
    Thread stopper = new Thread(() -> children.forEach(Process::destroy), "bagpipe-launch-stop");
    Runtime.getRuntime().addShutdownHook(stopper);
    for (int i = 0; i < nodes; i++) {
      List<String> cmd = new ArrayList<>(javaCommand());
      cmd.add("node");
      if (configOptions.configFile != null) {
        cmd.addAll(List.of("--config", configOptions.configFile.toAbsolutePath().toString()));
      }
      for (String s : demo) {
        cmd.addAll(List.of("--set", s));
      }
      for (String s : configOptions.overrides) {
        cmd.addAll(List.of("--set", s));
      }
      cmd.addAll(List.of("--host", "127.0.0.1", "--port", Integer.toString(i == 0 ? seedPort : 0),
          "--seed", "127.0.0.1:" + seedPort, "--min-workers", Integer.toString(nodes * workersPerNode),
          "--set", "bagpipe.worker.devices=[" + String.join(",", Collections.nCopies(workersPerNode, "cpu")) + "]",
          "--set", "bagpipe.worker.intra-op-threads=1"));
      if (i > 0) {
        cmd.add("--no-progress");
      }
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      children.add(p);
      String prefix = i == 0 ? "" : "[node-" + i + "] ";
      Thread pump = Thread.ofPlatform().name("node-" + i + "-output").start(() -> relay(p, prefix));
      pumps.add(pump);
    }
    System.err.printf("launch: %d nodes x %d worker(s) on this host, seed 127.0.0.1:%d%n", nodes, workersPerNode, seedPort);
    // A node killed by a signal is one the run goes on without (docs/adr/0008): the
    // launch fails only when a node failed on its own, or no node finished the run.
    int failed = 0;
    boolean finished = false;
    for (int i = 0; i < children.size(); i++) {
      int c = children.get(i).waitFor();
      if (c == 0) {
        finished = true;
      } else if (c > 128) {
        System.err.printf("launch: node %d was killed (signal %d)%n", i, c - 128);
      } else if (failed == 0) {
        failed = c;
      }
    }
    int code = failed != 0 ? failed : finished ? 0 : 1;
    for (Thread t : pumps) {
      t.join();
    }
    try {
      Runtime.getRuntime().removeShutdownHook(stopper);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running and stops the children itself
    }
    return code;
  }

  /** The java binary and JVM flags of this process, and its classpath, to start nodes alike. */
  private static List<String> javaCommand() {
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
