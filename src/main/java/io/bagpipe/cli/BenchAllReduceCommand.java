package io.bagpipe.cli;

import com.typesafe.config.Config;
import io.bagpipe.allreduce.AllReduceSettings;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe bench allreduce}: bus bandwidth of {@code RingAllReduce} between
 * two JVM processes on loopback, beside loopback TCP ({@code iperf_loopback.sh},
 * one iperf3 stream) and the peer's gloo all-reduce ({@code gloo_allreduce.py}),
 * interleaved over rounds in one run; reports medians and the ratios busbw ÷ iperf3
 * and busbw ÷ gloo, for the configured transport (shared memory between two local
 * JVMs by default), for TCP (what ranks on different hosts use) and for TCP with the data
 * channel encrypted ({@code bagpipe.security.encrypt-data = on}), whose row also gives its
 * bandwidth over the plain TCP row of the same round.
 */
@Command(
    name = "allreduce",
    mixinStandardHelpOptions = true,
    description = "Ring all-reduce bus bandwidth across 2 JVMs on loopback vs iperf3 loopback TCP and gloo.")
final class BenchAllReduceCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Mixin ProbeOptions probeOptions;

  @Option(names = "--sizes", paramLabel = "LIST", description = "Vector sizes in floats (default: ${DEFAULT-VALUE}).")
  String sizes = "1M,4M,25M";

  @Option(names = "--iters", paramLabel = "N", description = "Timed all-reduces per size; the median is reported (default: ${DEFAULT-VALUE}).")
  int iters = 10;

  @Option(names = "--warmup", paramLabel = "N", description = "Untimed all-reduces per size first (default: ${DEFAULT-VALUE}).")
  int warmup = 10;

  @Option(names = "--rounds", paramLabel = "R", description = "Interleaved rounds of iperf3, gloo and Bagpipe (default: ${DEFAULT-VALUE}).")
  int rounds = 3;

  @Option(names = "--iperf-seconds", paramLabel = "S", description = "Seconds per iperf3 run (default: ${DEFAULT-VALUE}).")
  int iperfSeconds = 5;

  @Override
  public Integer call() throws Exception {
    Config config = configOptions.load();
    BenchSettings bench = BenchSettings.fromConfig(config.getConfig("bagpipe.bench"));
    AllReduceSettings ring = AllReduceSettings.fromConfig(config.getConfig("bagpipe.allreduce"));
    if (iters < 1 || warmup < 0 || rounds < 1 || iperfSeconds < 1) {
      throw new IllegalArgumentException("--iters, --rounds and --iperf-seconds must be positive, --warmup >= 0");
    }
    List<String> tags = List.of(sizes.split(","));
    tags.forEach(AllReduceBenchNode::parseSize);
    PeerTools probes = probeOptions.tools(bench);
    List<String> iperf = probes.loopbackTcp();
    List<String> gloo = probes.gloo();
    checkTools();

    // The configured transport (shared memory between these two local JVMs by default)
    // and TCP, which is what links between hosts use.
    // The last kind is TCP again with the data channel encrypted (bagpipe.security.encrypt-data).
    List<AllReduceSettings.Transport> transports = ring.transport() == AllReduceSettings.Transport.TCP
        ? List.of(AllReduceSettings.Transport.TCP, AllReduceSettings.Transport.TCP)
        : List.of(ring.transport(), AllReduceSettings.Transport.TCP, AllReduceSettings.Transport.TCP);
    int cells = tags.size();
    int kinds = transports.size();
    double[] iperfGBps = new double[rounds];
    // One stream each way at once: what a 2-rank ring asks of loopback and the same two
    // CPUs (the project's probe only; an outside set may not know the mode).
    double[] bidirGBps = probes.own() ? new double[rounds] : null;
    double[][] glooBus = new double[cells][rounds];
    double[][][] ringBus = new double[kinds][cells][rounds];
    double[][][] ringSecs = new double[kinds][cells][rounds];
    String[][] used = new String[kinds][cells];
    for (int r = 0; r < rounds; r++) {
      Map<String, String> ip = PeerTools.results(
          with(iperf, Integer.toString(iperfSeconds), Integer.toString(freePort())),
          iperfSeconds + 60).getFirst();
      iperfGBps[r] = Double.parseDouble(ip.get("GBps"));
      if (bidirGBps != null) {
        bidirGBps[r] = Double.parseDouble(PeerTools.results(
            with(iperf, Integer.toString(iperfSeconds), Integer.toString(freePort()), "both"),
            iperfSeconds + 60).getFirst().get("GBps"));
      }
      List<Map<String, String>> gl = PeerTools.results(with(gloo, "--sizes", sizes,
          "--iters", Integer.toString(iters), "--warmup", Integer.toString(warmup), "--port", Integer.toString(freePort())), 1800);
      for (int i = 0; i < cells; i++) {
        glooBus[i][r] = Double.parseDouble(byTag(gl, tags.get(i), "gloo").get("busbw_GBps"));
      }
      for (int k = 0; k < kinds; k++) {
        Map<String, Map<String, String>> ours = runRing(tags, config.getConfig("bagpipe.allreduce"), transports.get(k),
            k == kinds - 1);
        for (int i = 0; i < cells; i++) {
          Map<String, String> o = ours.get(tags.get(i));
          if (!"True".equals(o.get("correct"))) {
            throw new IllegalStateException("Bagpipe's ring all-reduce gave a wrong result at " + tags.get(i) + ": " + o);
          }
          ringBus[k][i][r] = Double.parseDouble(o.get("busbw_GBps"));
          ringSecs[k][i][r] = Double.parseDouble(o.get("secs_per_op"));
          used[k][i] = o.get("transport");
          System.err.printf("  round %d/%d, %s floats: iperf3 %.3f GB/s, gloo busbw %.3f GB/s, Bagpipe (%s) busbw %.3f GB/s (%.3fx iperf3, %.3fx gloo)%n",
              r + 1, rounds, tags.get(i), iperfGBps[r], glooBus[i][r], used[k][i], ringBus[k][i][r],
              ringBus[k][i][r] / iperfGBps[r], ringBus[k][i][r] / glooBus[i][r]);
        }
      }
    }

    StringBuilder md = new StringBuilder();
    md.append("# bagpipe bench allreduce\n\n")
        .append("- date: ").append(LocalDateTime.now().withNano(0)).append('\n')
        .append("- 2 ranks, 2 JVM processes, loopback 127.0.0.1; Java ").append(Runtime.version()).append(", ")
        .append(Runtime.getRuntime().availableProcessors()).append(" CPUs\n")
        .append("- Bagpipe: RingAllReduce, chunk ").append(ring.chunkBytes())
        .append(" B, window ").append(ring.window()).append(", socket buffers ").append(ring.socketBufferBytes())
        .append(" B; ").append(warmup).append(" warm-up then median of ").append(iters)
        .append(" timed all-reduces, each after a 1-float barrier round; the data channel authenticated with a per-run secret, as `launch` runs it; once with `bagpipe.allreduce.transport = ")
        .append(ring.transport().name().toLowerCase(Locale.ROOT)).append('`')
        .append(kinds > 2 ? " (the two local JVMs prove they share memory and use it), once with `tcp` (what ranks on different hosts use)" : "")
        .append(" and once with `tcp` and `bagpipe.security.encrypt-data = on` (`tcp+encrypted`: AES-256-GCM per frame)\n")
        .append("- probes: ").append(probes.describe()).append('\n')
        .append("- gloo: `").append(String.join(" ", gloo)).append(" --sizes ").append(sizes).append(" --iters ")
        .append(iters).append(" --warmup ").append(warmup).append(" --port P` (TCP on loopback)\n")
        .append("- loopback TCP: `").append(String.join(" ", iperf)).append(' ').append(iperfSeconds).append(" PORT` (iperf3, one stream)" + (bidirGBps == null ? "" : "; with `both` after PORT, one stream each way at once") + "\n")
        .append("- busbw = bytes / time x 2(n-1)/n (nccl-tests convention; = algbw for n = 2)\n")
        .append("- rounds: ").append(rounds).append(", interleaved iperf3, gloo, Bagpipe; medians of rounds\n\n")
        .append(String.format("iperf3 loopback: **%.3f GB/s** (per round: %s)%n", BenchReadCommand.median(iperfGBps), list(iperfGBps)))
        .append(bidirGBps == null ? "" : String.format("iperf3 loopback, one stream each way at once (`both`), mean of the"
            + " two directions: **%.3f GB/s** (per round: %s); a 2-rank ring sends and receives at once, so this is its"
            + " loopback ceiling on these CPUs%n", BenchReadCommand.median(bidirGBps), list(bidirGBps)))
        .append('\n')
        .append("| floats | MB | Bagpipe transport | s/op | busbw GB/s | gloo busbw GB/s | ÷ iperf3 (median of rounds) | ÷ gloo | ÷ iperf3 per round | ÷ plain tcp (median; per round) |\n")
        .append("|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < cells; i++) {
      for (int k = 0; k < kinds; k++) {
        double[] vsIperf = new double[rounds];
        double[] vsGloo = new double[rounds];
        for (int r = 0; r < rounds; r++) {
          vsIperf[r] = ringBus[k][i][r] / iperfGBps[r];
          vsGloo[r] = ringBus[k][i][r] / glooBus[i][r];
        }
        String vsPlain = "";
        if (k == kinds - 1) { // the encrypted row against the plain TCP row of the same rounds
          double[] ratio = new double[rounds];
          for (int r = 0; r < rounds; r++) {
            ratio[r] = ringBus[k][i][r] / ringBus[k - 1][i][r];
          }
          vsPlain = String.format("**%.3f** (%s)", BenchReadCommand.median(ratio), list(ratio));
        }
        md.append(String.format("| %s | %.0f | %s | %.6f | %.3f | %.3f | **%.3f** | %.2f | %s | %s |%n",
            tags.get(i), AllReduceBenchNode.parseSize(tags.get(i)) * 4 / 1e6, used[k][i],
            BenchReadCommand.median(ringSecs[k][i]), BenchReadCommand.median(ringBus[k][i]),
            BenchReadCommand.median(glooBus[i]), BenchReadCommand.median(vsIperf), BenchReadCommand.median(vsGloo),
            list(vsIperf), vsPlain));
      }
    }
    if (bidirGBps != null) {
      md.append("\n| floats | Bagpipe transport | ÷ iperf3 both ways (median of rounds) | per round |\n|---|---|---|---|\n");
      for (int i = 0; i < cells; i++) {
        for (int k = 0; k < kinds; k++) {
          double[] vs = new double[rounds];
          for (int r = 0; r < rounds; r++) {
            vs[r] = ringBus[k][i][r] / bidirGBps[r];
          }
          md.append(String.format("| %s | %s | **%.3f** | %s |%n", tags.get(i), used[k][i], BenchReadCommand.median(vs),
              list(vs)));
        }
      }
    }
    md.append("\nTarget: busbw ÷ iperf3 >= 0.8 at 25M floats with the default transport (gloo reaches ~0.4).")
        .append(" Two JVMs on one host share memory (ADR 0006); the tcp rows are the ring's own TCP channel (ADR 0005),")
        .append(" whose two directions on loopback share the CPUs with each other where one iperf3 stream has them to itself;")
        .append(" the tcp+encrypted row seals and opens every frame on those same CPUs.\n");
    bench.report("allreduce", md);
    return 0;
  }

  private static String list(double[] v) {
    StringBuilder s = new StringBuilder();
    for (double d : v) {
      s.append(s.isEmpty() ? "" : ", ").append(String.format("%.3f", d));
    }
    return s.toString();
  }

  private static Map<String, String> byTag(List<Map<String, String>> results, String tag, String who) throws IOException {
    for (Map<String, String> m : results) {
      if (tag.equals(m.get("tag"))) {
        return m;
      }
    }
    throw new IOException(who + " printed no RESULT for size " + tag + ": " + results);
  }

  private static void checkTools() throws IOException, InterruptedException {
    List<String> missing = new ArrayList<>();
    try {
      PeerTools.run(List.of("iperf3", "--version"), 30, null);
    } catch (IOException e) {
      missing.add("iperf3");
    }
    try {
      PeerTools.run(List.of("/usr/bin/python3", "-c", "import torch.distributed as d; assert d.is_available()"), 120, null);
    } catch (IOException e) {
      missing.add("python3-torch");
    }
    if (!missing.isEmpty()) {
      throw new IOException("bench allreduce measures loopback TCP with iperf3 and the gloo peer with PyTorch; install: sudo apt-get install -y "
          + String.join(" ", missing));
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /** Starts the two ranks as child JVMs, introduces them, and returns rank 0's RESULT lines by size tag. */
  private Map<String, Map<String, String>> runRing(List<String> tags, Config allreduce,
      AllReduceSettings.Transport transport, boolean encrypt) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String cp = System.getProperty("java.class.path");
    List<Process> nodes = new ArrayList<>();
    String secret = io.bagpipe.allreduce.ChannelAuth.newSecret(); // as launch gives each run
    try {
      List<BufferedReader> outs = new ArrayList<>();
      List<String> ports = new ArrayList<>();
      for (int rank = 0; rank < 2; rank++) {
        List<String> cmd = new ArrayList<>(List.of(java, "-Xms1g", "-Xmx2g", "-XX:+UseG1GC",
            "--sun-misc-unsafe-memory-access=allow", "-cp", cp));
        // the nodes run with this command's bagpipe.allreduce (--config, --set included)
        for (var e : allreduce.withoutPath("transport").entrySet()) {
          cmd.add("-Dbagpipe.allreduce." + e.getKey() + "=" + e.getValue().unwrapped());
        }
        cmd.add("-Dbagpipe.allreduce.transport=" + transport.name().toLowerCase(Locale.ROOT));
        cmd.addAll(List.of(AllReduceBenchNode.class.getName(), Integer.toString(rank), "2", sizes,
            Integer.toString(warmup), Integer.toString(iters)));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put(AllReduceBenchNode.SECRET_ENV, secret);
        pb.environment().put(AllReduceBenchNode.ENCRYPT_ENV, encrypt ? "on" : "off");
        Process p = pb.start();
        nodes.add(p);
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        outs.add(out);
        String line = out.readLine();
        if (line == null || !line.startsWith("PORT ")) {
          throw new IOException("bench node " + rank + " did not report its data port, printed: " + line);
        }
        ports.add(line.substring(5).trim());
      }
      String ringLine = "RING " + String.join(" ", ports) + "\n";
      for (Process p : nodes) {
        Writer w = new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8);
        w.write(ringLine);
        w.flush();
      }
      CompletableFuture<String> rest1 = CompletableFuture.supplyAsync(() -> drain(outs.get(1)));
      List<Map<String, String>> results = new ArrayList<>();
      for (String line; (line = outs.getFirst().readLine()) != null; ) {
        Map<String, String> fields = PeerTools.parseResult(line);
        if (fields != null) {
          results.add(fields);
        }
      }
      rest1.get(60, TimeUnit.SECONDS);
      for (int rank = 0; rank < 2; rank++) {
        Process p = nodes.get(rank);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
          throw new IOException("bench node " + rank + " failed (exit " + (p.isAlive() ? "none, killed" : p.exitValue()) + ")");
        }
      }
      Map<String, Map<String, String>> byTag = new LinkedHashMap<>();
      for (String t : tags) {
        byTag.put(t, byTag(results, t, "Bagpipe's bench node"));
      }
      return byTag;
    } finally {
      for (Process p : nodes) {
        p.destroyForcibly();
      }
    }
  }

  private static String drain(BufferedReader r) {
    try {
      StringBuilder s = new StringBuilder();
      for (String line; (line = r.readLine()) != null; ) {
        s.append(line).append('\n');
      }
      return s.toString();
    } catch (IOException e) {
      return "";
    }
  }

  /** {@code command} followed by {@code args}. */
  private static List<String> with(List<String> command, String... args) {
    List<String> all = new ArrayList<>(command);
    all.addAll(List.of(args));
    return all;
  }
}
