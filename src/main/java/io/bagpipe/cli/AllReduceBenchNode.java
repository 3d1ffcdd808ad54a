package io.bagpipe.cli;

import com.typesafe.config.ConfigFactory;
import io.bagpipe.allreduce.AllReduce.Reduced;
import io.bagpipe.allreduce.AllReduceSettings;
import io.bagpipe.allreduce.ChannelAuth;
import io.bagpipe.allreduce.DataPort;
import io.bagpipe.allreduce.RingAllReduce;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One rank of {@code bagpipe bench allreduce}, run as its own JVM by
 * {@link BenchAllReduceCommand}. Rendezvous through the parent: prints
 * {@code PORT <p>}, reads {@code RING <port0> <port1> ...} from stdin, then times
 * {@link RingAllReduce#reduce} per size (warm-up, then each timed round preceded
 * by a one-float round as a barrier, as the gloo peer does); rank 0 prints a
 * {@code RESULT ring ...} line per size in the gloo peer's format.
 *
 * <p>Arguments: {@code rank world sizes(comma, e.g. 1M,4M,25M) warmup iters}.
 * Settings are {@code bagpipe.allreduce} from reference.conf (and {@code -D} overrides).
 */
final class AllReduceBenchNode {

  /** The environment variable that carries the ranks' data-channel secret, if any. */
  static final String SECRET_ENV = "BAGPIPE_BENCH_SECRET";
  /** Set to {@code on}: the ranks encrypt their data channel too ({@code bagpipe.security.encrypt-data}). */
  static final String ENCRYPT_ENV = "BAGPIPE_BENCH_ENCRYPT";

  private AllReduceBenchNode() {}

  public static void main(String[] args) throws Exception {
    int rank = Integer.parseInt(args[0]);
    int world = Integer.parseInt(args[1]);
    String[] sizes = args[2].split(",");
    int warmup = Integer.parseInt(args[3]);
    int iters = Integer.parseInt(args[4]);
    AllReduceSettings s = AllReduceSettings.fromConfig(ConfigFactory.load().getConfig("bagpipe.allreduce"));
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    // launch gives every run a secret, so the bench's ranks prove one too (BenchAllReduceCommand's)
    String secret = System.getenv(SECRET_ENV);
    ChannelAuth auth = secret == null ? ChannelAuth.NONE : ChannelAuth.of(secret.getBytes(StandardCharsets.UTF_8))
        .encrypting("on".equals(System.getenv(ENCRYPT_ENV)));
    try (DataPort port = DataPort.open(s, auth)) {
      System.out.println("PORT " + port.address().getPort());
      System.out.flush();
      String[] ring = in.readLine().trim().split("\\s+");
      List<InetSocketAddress> addresses = new ArrayList<>();
      for (int i = 1; i < ring.length; i++) {
        addresses.add(new InetSocketAddress(s.host(), Integer.parseInt(ring[i])));
      }
      try (RingAllReduce ar = new RingAllReduce(port, 1, rank, addresses, s)) {
        ar.connected().toCompletableFuture().get(s.timeout().toSeconds() + 5, TimeUnit.SECONDS);
        long round = 0;
        float[] one = {1f};
        // Largest first: its warm-up moves the most bytes, and HotSpot compiles AES-GCM only
        // after some hundreds of 1 MiB frames (before that it seals at interpreter speed,
        // about 60 MB/s), so smaller sizes measured first would time the JIT, not the ring.
        String[] order = sizes.clone();
        java.util.Arrays.sort(order, java.util.Comparator.comparingInt(AllReduceBenchNode::parseSize).reversed());
        for (String tag : order) {
          int n = parseSize(tag);
          float[] g = new float[n];
          Arrays.fill(g, rank + 1);
          double[] times = new double[iters];
          boolean correct = true;
          float expect = (float) world * (world + 1) / 2 / world; // weights 1: mean of 1..W
          for (int i = -warmup; i < iters; i++) {
            reduce(ar, rank, round++, one);
            long t0 = System.nanoTime();
            Reduced r = reduce(ar, rank, round++, g);
            long t1 = System.nanoTime();
            if (i >= 0) {
              times[i] = (t1 - t0) / 1e9;
            }
            correct &= r.average()[0] == expect && r.average()[n - 1] == expect && r.weight() == world;
          }
          double t = BenchReadCommand.median(times);
          double min = Arrays.stream(times).min().orElseThrow();
          long bytes = 4L * n;
          double algbw = bytes / t;
          double busbw = algbw * 2 * (world - 1) / world;
          if (rank == 0) {
            System.out.printf("RESULT ring_allreduce tag=%s elems=%d bytes=%d world=%d iters=%d secs_per_op=%.7f "
                    + "min_secs=%.7f algbw_GBps=%.3f busbw_GBps=%.3f correct=%s transport=%s%n",
                tag, n, bytes, world, iters, t, min, algbw / 1e9, busbw / 1e9, correct ? "True" : "False",
                ar.transport());
            System.out.flush();
          }
        }
        reduce(ar, rank, round, one); // nobody leaves while the other still reduces
      }
    }
    System.out.println("DONE");
  }

  private static Reduced reduce(RingAllReduce ar, int rank, long round, float[] g) throws Exception {
    return ar.reduce(rank, round, g, 1, false).toCompletableFuture().get(120, TimeUnit.SECONDS);
  }

  static int parseSize(String s) {
    char u = Character.toUpperCase(s.charAt(s.length() - 1));
    return switch (u) {
      case 'K' -> Integer.parseInt(s.substring(0, s.length() - 1)) * 1000;
      case 'M' -> Integer.parseInt(s.substring(0, s.length() - 1)) * 1_000_000;
      default -> Integer.parseInt(s);
    };
  }
}
