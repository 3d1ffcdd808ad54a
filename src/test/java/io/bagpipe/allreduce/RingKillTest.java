package io.bagpipe.allreduce;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.allreduce.AllReduce.Reduced;
import io.bagpipe.allreduce.AllReduceSettings.Transport;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A ring between this JVM (rank 0) and a child JVM (rank 1), as two workers on one
 * host are: the ranks agree on shared memory (or TCP when configured), reduce
 * correctly across processes, and when the child is killed with SIGKILL mid-run the
 * next round fails naming it long before {@code bagpipe.allreduce.timeout}, because
 * the kernel closes the dead process's connection.
 */
@Timeout(60)
class RingKillTest {

  static final int N = 50_000;
  static final Duration TIMEOUT = Duration.ofSeconds(60);

  static AllReduceSettings settings(Transport t, Path dir) {
    return new AllReduceSettings("127.0.0.1", 0, 4096, 4, TIMEOUT, 0, t, dir, 0);
  }

  static float[] gradient(int rank, long round) {
    float[] g = new float[N];
    for (int i = 0; i < N; i++) {
      g[i] = rank + round + i % 7;
    }
    return g;
  }

  @ParameterizedTest
  @EnumSource(Transport.class)
  void aKilledRankFailsTheRoundNamingItWithoutWaitingForTheTimeout(Transport t, @TempDir Path dir) throws Exception {
    AllReduceSettings s = settings(t, dir);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process child = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
        Child.class.getName(), t.name(), dir.toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (DataPort port = DataPort.open(s)) {
      BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
      String line = out.readLine();
      assertTrue(line != null && line.startsWith("PORT "), "child printed " + line);
      InetSocketAddress childAddress = new InetSocketAddress("127.0.0.1", Integer.parseInt(line.substring(5)));
      Writer in = new OutputStreamWriter(child.getOutputStream(), StandardCharsets.UTF_8);
      in.write("RING " + port.address().getPort() + " " + childAddress.getPort() + "\n");
      in.flush();
      try (RingAllReduce ring = new RingAllReduce(port, 1, 0, List.of(port.address(), childAddress), s)) {
        for (long round = 0; round < 3; round++) {
          Reduced r = ring.reduce(0, round, gradient(0, round), 1, false).toCompletableFuture().get(20, TimeUnit.SECONDS);
          float[] expected = new float[N];
          float[] g0 = gradient(0, round);
          float[] g1 = gradient(1, round);
          for (int i = 0; i < N; i++) {
            expected[i] = (g0[i] + g1[i]) * 0.5f;
          }
          assertArrayEquals(expected, r.average(), "round " + round + " across processes");
          assertEquals(2, r.weight());
        }
        assertEquals(t == Transport.AUTO ? "shared-memory" : "tcp", ring.transport());
        try (var files = Files.list(dir)) {
          assertEquals(List.of(), files.toList(), "no segment file outlives the handshake");
        }

        child.destroyForcibly();
        assertTrue(child.waitFor(10, TimeUnit.SECONDS));
        long t0 = System.nanoTime();
        CompletableFuture<Reduced> next = ring.reduce(0, 3, gradient(0, 3), 1, false).toCompletableFuture();
        ExecutionException e = assertThrows(ExecutionException.class, () -> next.get(30, TimeUnit.SECONDS));
        double secs = (System.nanoTime() - t0) / 1e9;
        RingBrokenException b = assertInstanceOf(RingBrokenException.class, e.getCause());
        assertEquals(1, b.peerRank());
        assertTrue(b.getMessage().contains("rank 1 at " + childAddress), b.getMessage());
        assertTrue(secs < 10, "detected in " + secs + " s, not after the " + TIMEOUT + " timeout");
      }
    } finally {
      child.destroyForcibly();
    }
  }

  /** Rank 1: prints its data port, reads {@code RING p0 p1}, then reduces round after round until killed. */
  static final class Child {
    public static void main(String[] args) throws Exception {
      AllReduceSettings s = settings(Transport.valueOf(args[0]), Path.of(args[1]));
      try (DataPort port = DataPort.open(s)) {
        System.out.println("PORT " + port.address().getPort());
        System.out.flush();
        String[] ring = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine().split(" ");
        List<InetSocketAddress> addresses = List.of(new InetSocketAddress("127.0.0.1", Integer.parseInt(ring[1])),
            new InetSocketAddress("127.0.0.1", Integer.parseInt(ring[2])));
        try (RingAllReduce r = new RingAllReduce(port, 1, 1, addresses, s)) {
          for (long round = 0; ; round++) {
            r.reduce(1, round, gradient(1, round), 1, false).toCompletableFuture().get();
          }
        }
      }
    }
  }
}
