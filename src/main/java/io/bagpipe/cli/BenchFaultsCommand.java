package io.bagpipe.cli;

import com.typesafe.config.Config;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe bench faults}: a {@code launch --nodes N --restarts K+M} run on the
 * demo data whose nodes this command kills with SIGKILL, K times a node that does not
 * hold the Coordinator and M times the one that does, each at a random moment once
 * the previous kill is healed. The launcher starts each killed node again; it rejoins
 * healed from a live node. From the run's {@code faults.jsonl} (when each loss,
 * take-over and join was detected, healed, and followed by a committed step) and
 * {@code metrics.jsonl} (each epoch's bag ledger) it reports, per kill, the time to
 * detect, to the next committed step and until the restarted node trains again, and
 * per epoch the bags lost and doubled. In the same run it measures fault-free
 * training throughput, interleaved with a baseline build's ({@code --baseline-jar})
 * when given.
 */
@Command(
    name = "faults",
    mixinStandardHelpOptions = true,
    description = "Kill nodes of a 3-node run at random steps; report recovery times, bag ledgers and fault-free throughput.")
final class BenchFaultsCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Option(names = "--nodes", description = "Node processes (default: ${DEFAULT-VALUE}).")
  int nodes = 3;

  @Option(names = "--worker-kills", paramLabel = "K", description = "Kills of a node without the Coordinator (default: ${DEFAULT-VALUE}).")
  int workerKills = 10;

  @Option(names = "--coordinator-kills", paramLabel = "M", description = "Kills of the Coordinator's node (default: ${DEFAULT-VALUE}).")
  int coordinatorKills = 5;

  @Option(names = "--epochs", description = "Epochs of the run with kills (default: ${DEFAULT-VALUE}).")
  int epochs = 30;

  @Option(names = "--clean-epochs", description = "Epochs of each fault-free run; the first is warm-up (default: ${DEFAULT-VALUE}).")
  int cleanEpochs = 3;

  @Option(names = "--rounds", description = "Fault-free runs of each build, interleaved (default: ${DEFAULT-VALUE}).")
  int rounds = 2;

  @Option(names = "--baseline-jar", paramLabel = "JAR", description = "A bagpipe.jar of another build (its lib/ beside it) to compare fault-free throughput with.")
  Path baselineJar;

  @Option(names = "--seed", description = "Seeds the kill order and moments (default: ${DEFAULT-VALUE}).")
  long seed = 1;

  private static final Pattern NUMBER = Pattern.compile("\"([a-z_]+)\":(-?\\d+(?:\\.\\d+)?)");
  private static final Pattern TEXT = Pattern.compile("\"(kind|node)\":\"([^\"]*)\"");
  private static final Pattern PORT = Pattern.compile("(?:^|\\u0000)--port\\u0000(\\d+)");

  @Override
  public Integer call() throws Exception {
    if (nodes < 2 || workerKills < 0 || coordinatorKills < 0 || epochs < 2 || cleanEpochs < 2 || rounds < 1) {
      throw new IllegalArgumentException("need --nodes >= 2, --epochs and --clean-epochs >= 2, --rounds >= 1,"
          + " kills >= 0");
    }
    if (coordinatorKills > 0 && nodes < 3) {
      throw new IllegalArgumentException("--coordinator-kills needs --nodes >= 3: with 2 nodes the survivor of the"
          + " Coordinator's node is alone and downs itself (docs/cluster.md)");
    }
    if (baselineJar != null && !Files.isRegularFile(baselineJar)) {
      throw new IllegalArgumentException("--baseline-jar " + baselineJar + " is not a file");
    }
    Config base = configOptions.load();
    BenchSettings bench = BenchSettings.fromConfig(base.getConfig("bagpipe.bench"));
    List<String> demo = DemoCommand.prepare(base);
    Path out = bench.out().resolve("faults-" + java.time.LocalDateTime.now()
        .format(java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))).toAbsolutePath();
    Files.createDirectories(out);

    List<Double> mine = new ArrayList<>();
    List<Double> theirs = new ArrayList<>();
    for (int r = 0; r < rounds; r++) {
      mine.add(cleanRun(LaunchCommand.javaCommand(), demo, out.resolve("clean-" + r)));
      if (baselineJar != null) {
        theirs.add(cleanRun(baselineCommand(), demo, out.resolve("baseline-" + r)));
      }
    }

    Path runDir = out.resolve("faults");
    List<Kill> kills = faultRun(demo, runDir, out.resolve("faults-run.log"));
    bench.report("faults", report(base, runDir, kills, mine, theirs));
    return 0;
  }

  // ---------------------------------------------------------------- fault-free

  /** A fault-free {@code launch}; returns the median training bags/s of its epochs after the first. */
  private double cleanRun(List<String> java, List<String> demo, Path runDir) throws Exception {
    List<String> cmd = launch(java, demo, runDir, cleanEpochs, 0);
    System.err.printf("bench faults: fault-free run of %d epochs (%s)%n", cleanEpochs, runDir.getFileName());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(runDir.resolveSibling(runDir.getFileName() + ".log").toFile()).start();
    if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      throw new IllegalStateException("the fault-free run in " + runDir + " failed; see its .log beside it");
    }
    List<String> lines = Files.readAllLines(runDir.resolve("metrics.jsonl"));
    double[] rates = lines.stream().skip(1).mapToDouble(l -> number(l, "bags_per_s").orElse(Double.NaN)).toArray();
    return BenchReadCommand.median(rates);
  }

  private List<String> baselineCommand() {
    List<String> cmd = new ArrayList<>(LaunchCommand.javaCommand());
    int cp = cmd.indexOf("-cp");
    List<String> java = new ArrayList<>(cmd.subList(0, cp));
    java.addAll(List.of("-jar", baselineJar.toAbsolutePath().toString()));
    return java;
  }

  private List<String> launch(List<String> java, List<String> demo, Path runDir, int epochs, int restarts) {
    List<String> cmd = new ArrayList<>(java);
    cmd.addAll(List.of("launch", "--nodes", Integer.toString(nodes)));
    if (restarts > 0) {
      cmd.addAll(List.of("--restarts", Integer.toString(restarts)));
    }
    if (configOptions.configFile != null) {
      cmd.addAll(List.of("--config", configOptions.configFile.toAbsolutePath().toString()));
    }
    List<String> sets = new ArrayList<>(demo.stream().filter(s -> !s.startsWith("bagpipe.train.")).toList());
    sets.addAll(configOptions.overrides);
    sets.add("bagpipe.train.run-dir=" + runDir);
    sets.add("bagpipe.train.epochs=" + epochs);
    sets.add("bagpipe.train.resume=false");
    for (String s : sets) {
      cmd.addAll(List.of("--set", s));
    }
    return cmd;
  }

  // ---------------------------------------------------------------- kills

  /** One kill: what was killed, when (wall-clock ms), the node's Pekko port. */
  record Kill(String kind, long atMillis, int port) {}

  private List<Kill> faultRun(List<String> demo, Path runDir, Path log) throws Exception {
    List<String> cmd = launch(LaunchCommand.javaCommand(), demo, runDir, epochs, workerKills + coordinatorKills);
    System.err.printf("bench faults: a %d-epoch run on %d nodes with %d worker-node and %d Coordinator-node kills%n",
        epochs, nodes, workerKills, coordinatorKills);
    Process launch = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    Thread pump = Thread.ofPlatform().name("bench-faults-output").start(() -> save(launch, log));
    List<String> plan = new ArrayList<>(Collections.nCopies(workerKills, "worker"));
    plan.addAll(Collections.nCopies(coordinatorKills, "coordinator"));
    Random random = new Random(seed);
    Collections.shuffle(plan, random);
    List<Kill> kills = new ArrayList<>();
    Path metrics = runDir.resolve("metrics.jsonl");
    Path faults = runDir.resolve("faults.jsonl");
    try {
      awaitOrEnd(launch, () -> lines(metrics).size() >= 1, 20, "the first epoch");
      int coordinatorPort = -1;
      for (String kind : plan) {
        int done = kills.size();
        boolean ready = awaitOrEnd(launch, () -> count(faults, "joined") >= done && liveNodes(launch).size() == nodes,
            10, "the previous kill's node to train again");
        if (!ready) {
          break;
        }
        Thread.sleep(500 + random.nextInt(3500)); // a random step
        // Every fault line names the Coordinator's node as it was then; the newest is where it is now.
        for (String line : lines(faults)) {
          coordinatorPort = text(line, "node").map(n -> Integer.parseInt(n.substring(n.lastIndexOf(':') + 1)))
              .orElse(coordinatorPort);
        }
        Map<Integer, ProcessHandle> live = liveNodes(launch);
        int coordinator = coordinatorPort > 0 ? coordinatorPort : originalPorts(launch).getFirst();
        List<Integer> others = live.keySet().stream().filter(p -> p != coordinator).sorted().toList();
        int target = kind.equals("coordinator") ? coordinator : others.get(random.nextInt(others.size()));
        ProcessHandle victim = live.get(target);
        if (victim == null) {
          throw new IllegalStateException("no live node process on port " + target + " among " + live.keySet());
        }
        victim.destroyForcibly();
        kills.add(new Kill(kind, System.currentTimeMillis(), target));
        System.err.printf("bench faults: kill %d of %d: the %s node on port %d%n", kills.size(), plan.size(),
            kind.equals("coordinator") ? "Coordinator's" : "worker", target);
      }
      awaitOrEnd(launch, () -> count(faults, "joined") >= kills.size(), 10, "the last kill's node to train again");
      if (!launch.waitFor(60, TimeUnit.MINUTES)) {
        throw new IllegalStateException("the run did not finish within an hour; see " + log);
      }
      pump.join();
      if (launch.exitValue() != 0) {
        throw new IllegalStateException("the run with kills failed (exit " + launch.exitValue() + "); see " + log);
      }
    } finally {
      launch.descendants().forEach(ProcessHandle::destroyForcibly);
      launch.destroyForcibly();
    }
    return kills;
  }

  /** Waits up to {@code minutes} for {@code done}; false when the run ended first. */
  private static boolean awaitOrEnd(Process launch, IoCondition done, int minutes, String what) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(minutes);
    while (!done.holds()) {
      if (!launch.isAlive()) {
        return false;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("waited " + minutes + " min for " + what);
      }
      Thread.sleep(100);
    }
    return true;
  }

  @FunctionalInterface
  private interface IoCondition {
    boolean holds() throws IOException;
  }

  /** The node processes of {@code launch} that are alive, by their Pekko port. */
  private static Map<Integer, ProcessHandle> liveNodes(Process launch) {
    Map<Integer, ProcessHandle> byPort = new TreeMap<>();
    launch.children().filter(ProcessHandle::isAlive).forEach(h -> port(h, PORT).ifPresent(p -> byPort.put(p, h)));
    return byPort;
  }

  /** The ports of the nodes as first started, node 0 first: the seed list every node was given. */
  private static List<Integer> originalPorts(Process launch) throws IOException {
    for (ProcessHandle h : launch.children().toList()) {
      String args = cmdline(h);
      List<Integer> seeds = new ArrayList<>();
      Matcher m = Pattern.compile("--seed\\u0000127\\.0\\.0\\.1:(\\d+)").matcher(args);
      while (m.find()) {
        seeds.add(Integer.parseInt(m.group(1)));
      }
      if (!seeds.isEmpty()) {
        return seeds;
      }
    }
    throw new IllegalStateException("no node process of the launch found");
  }

  private static Optional<Integer> port(ProcessHandle h, Pattern p) {
    try {
      Matcher m = p.matcher(cmdline(h));
      return m.find() ? Optional.of(Integer.parseInt(m.group(1))) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty(); // it ended meanwhile
    }
  }

  private static String cmdline(ProcessHandle h) throws IOException {
    return Files.readString(Path.of("/proc", Long.toString(h.pid()), "cmdline"), StandardCharsets.UTF_8);
  }

  private static void save(Process p, Path log) {
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        PrintWriter w = new PrintWriter(Files.newBufferedWriter(log))) {
      for (String line; (line = r.readLine()) != null; ) {
        w.println(System.currentTimeMillis() + " " + line);
        w.flush();
      }
    } catch (IOException e) {
      System.err.println("bench faults: output lost: " + e.getMessage());
    }
  }

  private static List<String> lines(Path file) throws IOException {
    return Files.exists(file) ? Files.readAllLines(file) : List.of();
  }

  private static long count(Path faults, String kind) throws IOException {
    return lines(faults).stream().filter(l -> l.contains("\"kind\":\"" + kind + "\"")).count();
  }

  static Optional<Double> number(String json, String name) {
    Matcher m = NUMBER.matcher(json);
    while (m.find()) {
      if (m.group(1).equals(name)) {
        return Optional.of(Double.parseDouble(m.group(2)));
      }
    }
    return Optional.empty();
  }

  private static Optional<String> text(String json, String name) {
    Matcher m = TEXT.matcher(json);
    while (m.find()) {
      if (m.group(1).equals(name)) {
        return Optional.of(m.group(2));
      }
    }
    return Optional.empty();
  }

  // ---------------------------------------------------------------- report

  private String report(Config base, Path runDir, List<Kill> kills, List<Double> mine, List<Double> theirs)
      throws IOException {
    List<String> faults = lines(runDir.resolve("faults.jsonl"));
    List<String> metrics = lines(runDir.resolve("metrics.jsonl"));
    StringBuilder md = new StringBuilder("# bench faults\n\n");
    md.append(String.format(Locale.ROOT, "- %d nodes x 1 CPU worker (`launch --nodes %d --restarts %d`), demo data,"
        + " %d epochs; kill order seeded with %d%n", nodes, nodes, workerKills + coordinatorKills, epochs, seed));
    md.append(String.format(Locale.ROOT, "- bounds: bagpipe.elastic.deadline-floor %s (a killed rank's ring"
            + " neighbours notice at once; the regroup waits this long for it); Coordinator's node: failure detector"
            + " acceptable-heartbeat-pause %s + split-brain resolver stable-after %s, then the singleton moves%n",
        base.getString("bagpipe.elastic.deadline-floor"),
        base.getString("pekko.cluster.failure-detector.acceptable-heartbeat-pause"),
        ConfigOptions.setByUser(base, "pekko.cluster.split-brain-resolver.stable-after")
            ? base.getString("pekko.cluster.split-brain-resolver.stable-after")
            : base.getString("bagpipe.cluster.launch-stable-after") + " (launch's, twice: it is also the"
                + " down-removal margin)"));
    md.append("- times from the kill (bench clock) to: the Coordinator noticing (`detect`), the next committed step,"
        + " and the restarted node training again after it was healed from a live one\n\n");
    md.append("| # | killed | detect s | next committed step s | restarted node trains s | heal ms |\n");
    md.append("|---|---|---|---|---|---|\n");
    Set<String> used = new HashSet<>();
    List<Double> workerNext = new ArrayList<>();
    List<Double> coordinatorNext = new ArrayList<>();
    List<Double> workerHealed = new ArrayList<>();
    for (int i = 0; i < kills.size(); i++) {
      Kill k = kills.get(i);
      String kind = k.kind().equals("worker") ? "lost" : "takeover";
      Optional<String> loss = next(faults, kind, k.atMillis(), used);
      Optional<String> join = next(faults, "joined", k.atMillis(), used);
      double detect = loss.map(l -> (number(l, "detected_ms").orElseThrow() - k.atMillis()) / 1e3).orElse(Double.NaN);
      double committed = loss.map(l -> (number(l, "committed_ms").orElseThrow() - k.atMillis()) / 1e3)
          .orElse(Double.NaN);
      double trains = join.map(l -> (number(l, "committed_ms").orElseThrow() - k.atMillis()) / 1e3).orElse(Double.NaN);
      double heal = join.map(l -> number(l, "healed_ms").orElseThrow() - number(l, "heal_start_ms").orElseThrow())
          .orElse(Double.NaN);
      (k.kind().equals("worker") ? workerNext : coordinatorNext).add(committed);
      if (k.kind().equals("worker")) {
        workerHealed.add(trains);
      }
      md.append(String.format(Locale.ROOT, "| %d | %s (port %d) | %.2f | %.2f | %.1f | %.0f |%n", i + 1,
          k.kind().equals("worker") ? "worker node" : "Coordinator's node", k.port(), detect, committed, trains, heal));
    }
    md.append(String.format(Locale.ROOT, "%n- worker-node kills: median time to the next committed step **%.2f s**"
            + " (of %d), restarted node training again %.1f s%n", median(workerNext), workerNext.size(),
        median(workerHealed)));
    md.append(String.format(Locale.ROOT, "- Coordinator-node kills: median time to the next committed step **%.2f s**"
        + " (of %d)%n%n", median(coordinatorNext), coordinatorNext.size()));

    md.append("## Bag ledger per epoch\n\n| epoch | first step | planned | committed | skipped | re-queued | lost |"
        + " doubled | workers lost | joined | ring generations |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    long lostTotal = 0;
    long doubledTotal = 0;
    for (String l : metrics) {
      long planned = number(l, "ledger_bags_planned").orElse(0.0).longValue();
      long committed = number(l, "ledger_bags_committed").orElse(0.0).longValue();
      long skipped = number(l, "ledger_bags_skipped").orElse(0.0).longValue();
      long lost = Math.max(0, planned - committed - skipped);
      long doubled = Math.max(0, committed + skipped - planned);
      lostTotal += lost;
      doubledTotal += doubled;
      Matcher g = Pattern.compile("\"ring_generations\":\"([^\"]*)\"").matcher(l);
      md.append(String.format(Locale.ROOT, "| %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s |%n",
          number(l, "epoch").orElse(-1.0).intValue() + 1, number(l, "ledger_first_step").orElse(0.0).longValue(),
          planned, committed, skipped, number(l, "ledger_bags_requeued").orElse(0.0).longValue(), lost, doubled,
          number(l, "workers_lost").orElse(0.0).longValue(), number(l, "workers_joined").orElse(0.0).longValue(),
          g.find() ? g.group(1) : "?"));
    }
    md.append(String.format(Locale.ROOT, "%n- %d epochs recorded, **%d bags lost, %d doubled** over the run%n%n",
        metrics.size(), lostTotal, doubledTotal));

    md.append("## Fault-free throughput\n\n");
    md.append(String.format(Locale.ROOT, "- this build: %s bags/s (median over epochs 2..%d of each run)%n", mine,
        cleanEpochs));
    if (!theirs.isEmpty()) {
      md.append(String.format(Locale.ROOT, "- baseline %s: %s bags/s%n", baselineJar, theirs));
      md.append(String.format(Locale.ROOT, "- ratio of medians: **%.3f**%n", median(mine) / median(theirs)));
    }
    return md.toString();
  }

  /** The first fault line of {@code kind} detected at or after {@code since} (less a moment) not yet used. */
  private static Optional<String> next(List<String> faults, String kind, long since, Set<String> used) {
    for (String l : faults) {
      if (l.contains("\"kind\":\"" + kind + "\"") && !used.contains(l)
          && number(l, "detected_ms").orElse(0.0) >= since - 200) {
        used.add(l);
        return Optional.of(l);
      }
    }
    return Optional.empty();
  }

  private static double median(List<Double> v) {
    double[] a = v.stream().mapToDouble(Double::doubleValue).filter(d -> !Double.isNaN(d)).toArray();
    return a.length == 0 ? Double.NaN : BenchReadCommand.median(a);
  }
}
