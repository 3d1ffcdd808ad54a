package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.bagpipe.TrainingFixtures;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.cluster.Cluster;
import org.apache.pekko.cluster.MemberStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bagpipe launch --nodes 2} with TLS and the authenticated data channel, as real
 * processes; strangers (a socket with a wrong secret on every port the nodes listen on,
 * and a Pekko node without the TLS keys joining through the seed) are refused, and the
 * run completes its epochs.
 */
class SecureLaunchTest {

  private static final int EPOCHS = 200;

  @TempDir Path dir;

  @Test
  void strangersAreRefusedAndTheRunCarriesOn() throws Exception {
    Path keys = dir.resolve("keys");
    KeysCommand k = new KeysCommand();
    k.out = keys;
    assertEquals(0, k.call());
    String password = Files.readString(keys.resolve("password")).strip();
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    List<String> cmd = LaunchTest.launchTwoNodes();
    for (String s : List.of("bagpipe.data.dir=" + data, "bagpipe.train.run-dir=" + runDir,
        // Long enough that the run is still training while strangers knock (an epoch of this data
        // set can take 0.1 s); the run must carry on through all of it.
        "bagpipe.train.epochs=" + EPOCHS,
        "bagpipe.plan.patch-size=" + TrainingFixtures.PATCH, "bagpipe.plan.bag-size=4", "bagpipe.plan.bag-num=2",
        "bagpipe.plan.folds.k=4", "bagpipe.plan.folds.train=123", "bagpipe.plan.folds.val=4",
        "bagpipe.allreduce.transport=tcp", // every gradient byte crosses the authenticated TCP connection
        "bagpipe.security.tls.enabled=on", "bagpipe.security.tls.key-store=" + keys.resolve("node.p12"),
        "bagpipe.security.tls.trust-store=" + keys.resolve("trust.p12"))) {
      cmd.addAll(List.of("--set", s));
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
    pb.environment().put("BAGPIPE_KEYSTORE_PASSWORD", password);
    Process launch = pb.start();
    StringBuffer out = new StringBuffer();
    Thread pump = Thread.ofPlatform().daemon().start(() -> copy(launch.getInputStream(), out));
    try {
      // Wait until both nodes train (each node listens on Artery and on its data port).
      Matcher seed = waitFor(out, Pattern.compile("seed 127\\.0\\.0\\.1:(\\d+)"));
      waitFor(out, Pattern.compile("epoch 1/" + EPOCHS));
      List<Integer> ports = listeningPorts(launch);
      List<String> refusals = new ArrayList<>();
      List<String> answers = new ArrayList<>();
      for (int port : ports) {
        String answer = wrongSecretHandshake(port);
        answers.add(port + ": " + answer);
        if (answer.contains("does not hold this run's secret")) {
          refusals.add(port + ": " + answer);
        }
      }
      assertEquals(2, refusals.size(), "both data ports refuse a wrong secret; every port's answer: " + answers
          + "\n" + out);

      var stranger = ActorSystem.create("bagpipe", ConfigFactory.parseString("""
          pekko.actor.provider = cluster
          pekko.remote.artery.canonical.hostname = 127.0.0.1
          pekko.remote.artery.canonical.port = 0
          pekko.cluster.seed-nodes = ["pekko://bagpipe@127.0.0.1:%s"]
          pekko.loglevel = ERROR
          pekko.coordinated-shutdown.exit-jvm = off
          """.formatted(seed.group(1))).withFallback(ConfigFactory.load()));
      try {
        Thread.sleep(2_000);
        assertTrue(launch.isAlive(), "the run was still training after the strangers knocked:\n" + out);
        Thread.sleep(13_000);
        MemberStatus status = Cluster.get(stranger).selfMember().status();
        assertFalse(status == MemberStatus.up() || status == MemberStatus.weaklyUp(),
            "a node without the keys must not join, it is " + status);
        assertTrue(java.util.stream.StreamSupport.stream(Cluster.get(stranger).state().getMembers().spliterator(), false)
            .noneMatch(m -> m.address().port().isDefined() && m.address().port().get().toString().equals(seed.group(1))),
            "the stranger never saw the run's members");
      } finally {
        stranger.terminate();
      }
      assertTrue(launch.waitFor(5, TimeUnit.MINUTES), "launch finished:\n" + out);
      pump.join(5000);
      assertEquals(0, launch.exitValue(), out.toString());
      assertTrue(out.toString().contains("done: " + EPOCHS + " epoch(s)"), out.toString());
      assertEquals(EPOCHS, Files.readAllLines(runDir.resolve("metrics.jsonl")).size());
    } finally {
      launch.descendants().forEach(ProcessHandle::destroy);
      launch.destroy();
    }
  }

  private static void copy(InputStream in, StringBuffer out) {
    byte[] b = new byte[8192];
    try {
      for (int n; (n = in.read(b)) > 0; ) {
        out.append(new String(b, 0, n, StandardCharsets.UTF_8));
      }
    } catch (IOException ignored) {
      // the process ended
    }
  }

  private static Matcher waitFor(StringBuffer out, Pattern p) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
    while (System.nanoTime() < deadline) {
      Matcher m = p.matcher(out);
      if (m.find()) {
        return m;
      }
      Thread.sleep(200);
    }
    throw new AssertionError(p + " not seen in:\n" + out);
  }

  /** TCP ports the launch's node processes listen on, from /proc (Linux). */
  private static List<Integer> listeningPorts(Process launch) throws IOException {
    Set<String> sockets = new HashSet<>();
    for (ProcessHandle h : launch.descendants().toList()) {
      try (var fds = Files.newDirectoryStream(Path.of("/proc/" + h.pid() + "/fd"))) {
        for (Path fd : fds) {
          try {
            String target = Files.readSymbolicLink(fd).toString();
            if (target.startsWith("socket:[")) {
              sockets.add(target.substring(8, target.length() - 1));
            }
          } catch (IOException ignored) {
            // closed meanwhile
          }
        }
      }
    }
    Set<Integer> ports = new TreeSet<>();
    for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
      List<String> lines = Files.readAllLines(Path.of(table));
      for (String line : lines.subList(1, lines.size())) {
        String[] c = line.trim().split("\\s+");
        if (c[3].equals("0A") && sockets.contains(c[9])) { // 0A: LISTEN
          ports.add(Integer.parseInt(c[1].substring(c[1].lastIndexOf(':') + 1), 16));
        }
      }
    }
    return List.copyOf(ports);
  }

  /** An authenticated ring handshake with a secret that is not the run's; what the port answered. */
  private static String wrongSecretHandshake(int port) {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(5000);
      DataOutputStream out = new DataOutputStream(s.getOutputStream());
      DataInputStream in = new DataInputStream(s.getInputStream());
      out.writeInt(0x42505241);
      out.writeLong(1);
      out.writeInt(0);
      out.writeInt(1);
      out.writeInt(2);
      out.write(new byte[32]);
      out.flush();
      byte[] challenge = new byte[64];
      in.readFully(challenge);
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec("not the run's secret, a guess...".getBytes(StandardCharsets.US_ASCII), "HmacSHA256"));
      out.write(mac.doFinal(challenge));
      out.flush();
      int status = in.readUnsignedByte();
      return "status " + status + (status == 1 ? " " + in.readUTF() : "");
    } catch (Exception e) {
      return e.toString();
    }
  }
}
