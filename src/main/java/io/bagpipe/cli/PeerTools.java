package io.bagpipe.cli;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The reference pipeline and physical-limit probes the benchmarks run beside
 * Bagpipe: locating them, compiling the C read limit, making the benchmark data
 * set, starting each probe, and parsing the {@code RESULT key=value ...} lines they
 * print.
 *
 * <p>Two sets follow the same command lines and {@code RESULT} fields: the
 * project's own in the checkout's {@code bench/} folder ({@link Kind#PROJECT}, the
 * default), and an outside peers folder ({@link Kind#PEERS}, {@code --peers}) kept
 * as a cross-check. Only the file names differ, and each set compiles into its own
 * folder so one never runs the other's binary.
 */
final class PeerTools {

  /** Debian's interpreter, which has the apt-installed torch, torchvision and openslide. */
  static final String PYTHON = "/usr/bin/python3";

  /** A set of probes and the file that plays each role in it. */
  enum Kind {
    PROJECT("make_slides.sh", "mil_pipeline.py", "gloo_allreduce.py", "loopback_tcp.sh"),
    PEERS("make_slides.py", "seed_mil.py", "gloo_allreduce.py", "iperf_loopback.sh");

    final String dataMaker;
    final String pipeline;
    final String gloo;
    final String loopback;

    Kind(String dataMaker, String pipeline, String gloo, String loopback) {
      this.dataMaker = dataMaker;
      this.pipeline = pipeline;
      this.gloo = gloo;
      this.loopback = loopback;
    }
  }

  private final Kind kind;
  private final Path folder;
  private final Path binDir;

  PeerTools(Kind kind, Path folder, Path binDir) {
    this.kind = kind;
    this.folder = folder.toAbsolutePath().normalize();
    this.binDir = binDir.resolve(kind.name().toLowerCase(java.util.Locale.ROOT));
  }

  /** The folder the probes come from. */
  Path folder() {
    return folder;
  }

  /** Whether these are the project's own probes (which know more modes than an outside set). */
  boolean own() {
    return kind == Kind.PROJECT;
  }

  /** One line for reports: which probes ran. */
  String describe() {
    return kind == Kind.PROJECT ? folder + " (Bagpipe's own probes)" : folder + " (peers, cross-check)";
  }

  /**
   * The checkout Bagpipe runs from: the folder whose {@code target/} holds the
   * running jar or classes; null when that cannot be told (an embedded copy).
   */
  static Path checkout() {
    try {
      var source = PeerTools.class.getProtectionDomain().getCodeSource();
      if (source == null) {
        return null;
      }
      Path target = Path.of(source.getLocation().toURI()).toAbsolutePath().getParent();
      return target != null && target.getFileName() != null && target.getFileName().toString().equals("target")
          ? target.getParent() : null;
    } catch (URISyntaxException | IllegalArgumentException | SecurityException e) {
      return null;
    }
  }

  /** Compiles {@code <folder>/<name>.c} against OpenSlide (once, or when the source is newer). */
  Path compile(String name) throws IOException, InterruptedException {
    Path src = file(name + ".c");
    Path bin = binDir.resolve(name);
    if (Files.isExecutable(bin) && Files.getLastModifiedTime(bin).compareTo(Files.getLastModifiedTime(src)) > 0) {
      return bin;
    }
    Files.createDirectories(binDir);
    String flags = run(List.of("pkg-config", "--cflags", "--libs", "openslide"), 60,
        "install the OpenSlide headers: apt-get install -y libopenslide-dev pkg-config").trim();
    List<String> cmd = new ArrayList<>(List.of("gcc", "-O2", "-pthread", "-o", bin.toString(), src.toString()));
    for (String f : flags.split("\\s+")) {
      if (!f.isEmpty()) {
        cmd.add(f);
      }
    }
    run(cmd, 120, "install gcc: apt-get install -y gcc");
    return bin;
  }

  /** The command that runs the reference pipeline in {@code mode}; checks its Python modules first. */
  List<String> pipeline(String mode) throws IOException, InterruptedException {
    Path script = file(kind.pipeline);
    requirePython(Map.of("torch", "python3-torch", "torchvision", "python3-torchvision", "openslide", "python3-openslide"),
        "the reference pipeline " + script.getFileName());
    return List.of(PYTHON, script.toString(), mode);
  }

  /** The command that runs the gloo all-reduce probe. */
  List<String> gloo() throws IOException {
    return List.of(PYTHON, file(kind.gloo).toString());
  }

  /** The command that measures loopback TCP with iperf3. */
  List<String> loopbackTcp() throws IOException {
    return List.of("bash", file(kind.loopback).toString());
  }

  /**
   * Makes the benchmark slides in {@code dir} with this set's data maker unless
   * {@code dir/manifest.csv} exists; both makers write the same layout.
   */
  void ensureData(Path dir) throws IOException, InterruptedException {
    if (Files.isRegularFile(dir.resolve("manifest.csv"))) {
      return;
    }
    Path maker = file(kind.dataMaker);
    System.err.println("bench: making the benchmark data set in " + dir + " (" + maker.getFileName() + ", a few minutes) ...");
    List<String> cmd = kind == Kind.PROJECT
        ? List.of("bash", maker.toString(), "--out", dir.toString())
        : List.of(PYTHON, maker.toString(), "--out", dir.toString());
    run(cmd, 3600, kind == Kind.PROJECT
        ? "install its needs: apt-get install -y libvips-tools openslide-tools"
        : "install its needs: apt-get install -y python3-numpy python3-pil libvips-tools openslide-tools");
  }

  private Path file(String name) throws IOException {
    Path f = folder.resolve(name);
    if (!Files.isRegularFile(f)) {
      throw new IOException(f + " not found; " + (kind == Kind.PROJECT
          ? "bagpipe.bench.probes must name the checkout's bench/ folder"
          : "point --peers (or bagpipe.bench.peers) at the peers folder"));
    }
    return f;
  }

  /** Fails naming the apt packages when Debian's python lacks one of {@code modules} (module to package). */
  static void requirePython(Map<String, String> modules, String who) throws IOException, InterruptedException {
    if (!Files.isExecutable(Path.of(PYTHON))) {
      throw new IOException(who + " needs Debian's " + PYTHON + "; install: apt-get install -y python3 "
          + String.join(" ", new java.util.TreeSet<>(modules.values())));
    }
    List<String> missing = new ArrayList<>();
    for (Map.Entry<String, String> m : new java.util.TreeMap<>(modules).entrySet()) {
      try {
        run(List.of(PYTHON, "-c", "import " + m.getKey()), 120, null);
      } catch (IOException e) {
        missing.add(m.getValue());
      }
    }
    if (!missing.isEmpty()) {
      throw new IOException(who + " cannot import its Python modules; install: apt-get install -y " + String.join(" ", missing));
    }
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
