package io.bagpipe.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The peer pipeline and physical-limit probes in {@code ../shared/peers}: locating
 * them, compiling the C probes, making the peer's data set, and parsing the
 * {@code RESULT key=value ...} lines they print.
 */
final class PeerTools {

  private final Path peers;
  private final Path binDir;

  PeerTools(Path peers, Path binDir) {
    this.peers = peers;
    this.binDir = binDir;
  }

  Path peers() {
    return peers;
  }

  /** Compiles {@code <peers>/<name>.c} against OpenSlide (once, or when the source is newer). */
  Path compile(String name) throws IOException, InterruptedException {
    Path src = peers.resolve(name + ".c");
    if (!Files.isRegularFile(src)) {
      throw new IOException(
          src + " not found; point bagpipe.bench.peers (or --peers) at the peers folder");
    }
    Path bin = binDir.resolve(name);
    if (Files.isExecutable(bin) && Files.getLastModifiedTime(bin).compareTo(Files.getLastModifiedTime(src)) > 0) {
      return bin;
    }
    Files.createDirectories(binDir);
    String flags = run(List.of("pkg-config", "--cflags", "--libs", "openslide"), 60, "install the OpenSlide headers: sudo apt-get install -y libopenslide-dev pkg-config").trim();
    List<String> cmd = new ArrayList<>(List.of("gcc", "-O2", "-pthread", "-o", bin.toString(), src.toString()));
    for (String f : flags.split("\\s+")) {
      if (!f.isEmpty()) {
        cmd.add(f);
      }
    }
    run(cmd, 120, "install gcc: sudo apt-get install -y gcc");
    return bin;
  }

  /**
   * Makes the peer's benchmark slides with {@code make_slides.py} (Debian's
   * python3 with numpy, Pillow and vips) unless {@code dir/manifest.csv} exists.
   */
  void ensurePeerData(Path dir) throws IOException, InterruptedException {
    if (Files.isRegularFile(dir.resolve("manifest.csv"))) {
      return;
    }
    Path script = peers.resolve("make_slides.py");
    if (!Files.isRegularFile(script)) {
      throw new IOException(dir + "/manifest.csv not found and " + script + " is missing to make it");
    }
    System.err.println("bench: making the peer's data set in " + dir + " (make_slides.py, a few minutes) ...");
    run(List.of("/usr/bin/python3", script.toString(), "--out", dir.toString()), 3600,
        "install its needs: sudo apt-get install -y python3-numpy python3-pil libvips-tools openslide-tools");
  }

  /** Runs a probe and returns the fields of its {@code RESULT} line. */
  Map<String, String> result(List<String> command, long timeoutSeconds) throws IOException, InterruptedException {
    return results(command, timeoutSeconds).getFirst();
  }

  /** Runs a probe and returns the fields of each of its {@code RESULT} lines, at least one. */
  static List<Map<String, String>> results(List<String> command, long timeoutSeconds) throws IOException, InterruptedException {
    String out = run(command, timeoutSeconds, null);
    List<Map<String, String>> all = new ArrayList<>();
    for (String line : out.split("\n")) {
      Map<String, String> fields = parseResult(line);
      if (fields != null) {
        all.add(fields);
      }
    }
    if (all.isEmpty()) {
      throw new IOException(String.join(" ", command) + " printed no RESULT line:\n" + out);
    }
    return all;
  }

  /** The {@code key=value} fields of a {@code RESULT ...} line, or null for any other line. */
  static Map<String, String> parseResult(String line) {
    if (!line.startsWith("RESULT ")) {
      return null;
    }
    Map<String, String> fields = new LinkedHashMap<>();
    for (String kv : line.substring(7).trim().split("\\s+")) {
      int eq = kv.indexOf('=');
      if (eq > 0) {
        fields.put(kv.substring(0, eq), kv.substring(eq + 1));
      }
    }
    return fields;
  }

  /** Runs a command; a failure names it, shows its output and the {@code fix}. */
  static String run(List<String> command, long timeoutSeconds, String fix) throws IOException, InterruptedException {
    Process p;
    try {
      p = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("cannot run " + command.get(0) + (fix == null ? "" : "; " + fix), e);
    }
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", command) + " timed out after " + timeoutSeconds + " s");
    }
    String s = new String(out, StandardCharsets.UTF_8);
    if (p.exitValue() != 0) {
      throw new IOException(
          String.join(" ", command) + " exited " + p.exitValue() + (fix == null ? "" : " (" + fix + ")") + ":\n" + s.strip());
    }
    return s;
  }
}
