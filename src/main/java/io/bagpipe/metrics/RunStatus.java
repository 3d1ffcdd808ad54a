package io.bagpipe.metrics;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A live view of a running run, built from its run directory: the endpoints its nodes
 * listed in {@code metrics-targets/} ({@link MetricsEndpoint}), scraped, and the newest
 * lines of {@code faults.jsonl}. Each {@link #refresh()} scrapes again; rates (patches/s,
 * all-reduce bandwidth) are taken between the last two refreshes, or over the whole run
 * on the first.
 */
public final class RunStatus {

  private static final Pattern TARGET = Pattern.compile("\"targets\"\\s*:\\s*\\[\\s*\"([^\"]+)\"");
  private static final int FAULTS_SHOWN = 3;

  private final Path runDir;
  private final Duration timeout;
  private final Map<String, Previous> previous = new HashMap<>();

  private record Previous(long nanos, double patches, double reduceBytes, double reduceSeconds) {}

  /** What one refresh found: the view, and how many of the listed endpoints answered. */
  public record View(String text, int listed, int answering) {}

  /** A view of the run in {@code runDir}, scraping each endpoint with {@code timeout}. */
  public RunStatus(Path runDir, Duration timeout) {
    this.runDir = runDir;
    this.timeout = timeout;
  }

  /** The endpoints listed in the run directory, as host:port. */
  public List<String> targets() throws IOException {
    Path dir = runDir.resolve(MetricsEndpoint.TARGETS);
    List<String> out = new ArrayList<>();
    if (!Files.isDirectory(dir)) {
      return out;
    }
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.json")) {
      for (Path f : files) {
        Matcher m = TARGET.matcher(Files.readString(f, StandardCharsets.UTF_8));
        if (m.find()) {
          out.add(m.group(1));
        }
      }
    } catch (java.nio.file.NoSuchFileException e) {
      // a node removed its file while we listed the folder
    }
    out.sort(null);
    return out;
  }

  /** Scrapes every listed endpoint and renders the view. */
  public View refresh() throws IOException, InterruptedException {
    List<String> targets = targets();
    StringBuilder nodes = new StringBuilder();
    Scrape run = null;
    int answering = 0;
    for (String target : targets) {
      Scrape s;
      try {
        s = Scrape.fetch(URI.create("http://" + target + "/metrics"), timeout);
      } catch (IOException | IllegalArgumentException e) {
        nodes.append(String.format(Locale.ROOT, "  %s not answering (%s); a node killed outright leaves its"
            + " target file behind%n", target, e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
        continue;
      }
      answering++;
      if (run == null || s.sum("bagpipe_steps_total") > run.sum("bagpipe_steps_total")) {
        run = s;
      }
      nodes.append(node(target, s));
    }
    StringBuilder out = new StringBuilder();
    out.append("run directory ").append(runDir.toAbsolutePath().normalize()).append('\n');
    if (run == null) {
      out.append(targets.isEmpty() ? "no node of a running run is listed in " + runDir.resolve(MetricsEndpoint.TARGETS)
          + " (the run ended, has not started, or runs with bagpipe.metrics.enabled = false)\n"
          : "none of the " + targets.size() + " listed node(s) answers: the run is not running\n");
      out.append(nodes);
      return new View(out.toString(), targets.size(), 0);
    }
    out.append(runLines(run, answering, targets.size()));
    out.append("nodes:\n").append(nodes);
    out.append(faults());
    return new View(out.toString(), targets.size(), answering);
  }

  private static String runLines(Scrape s, int answering, int listed) {
    String id = s.samples().stream().filter(x -> x.name().equals("bagpipe_epoch")).findFirst()
        .map(x -> x.labels().getOrDefault("run", "?")).orElse("?");
    int epoch = (int) get(s, "bagpipe_epoch");
    int epochs = (int) get(s, "bagpipe_epochs");
    int step = (int) get(s, "bagpipe_epoch_step");
    int steps = (int) get(s, "bagpipe_epoch_steps");
    double bagsPerSecond = get(s, "bagpipe_bags_per_second");
    double bags = get(s, "bagpipe_epoch_bags");
    double stepCount = s.sum("bagpipe_step_seconds_count");
    double meanStep = stepCount > 0 ? s.sum("bagpipe_step_seconds_sum") / stepCount : Double.NaN;
    StringBuilder b = new StringBuilder();
    double validating = get(s, "bagpipe_validation_bags");
    String phase = get(s, "bagpipe_run_running") != 1 ? "ended"
        : validating > 0 ? "validating epoch " + (epoch + 1) + " (" + (long) validating + " bags)" : "training";
    b.append(String.format(Locale.ROOT, "run %s: %s, %d of %d node(s) answering%n", id, phase, answering, listed));
    b.append(String.format(Locale.ROOT, "epoch %d/%d  step %d/%d  loss %.4f  %.2f bags/s  step %s%n", epoch + 1,
        epochs, step, steps, get(s, "bagpipe_train_loss"), bagsPerSecond,
        Double.isNaN(meanStep) ? "-" : String.format(Locale.ROOT, "%.3f s", meanStep)));
    if (bagsPerSecond > 0 && step > 0) {
      double perStep = bags / step / bagsPerSecond;
      double epochLeft = (steps - step) * perStep;
      double runLeft = epochLeft + Math.max(0, epochs - epoch - 1) * steps * perStep;
      b.append("ETA: epoch ").append(duration(epochLeft)).append(", run ").append(duration(runLeft))
          .append(" (training steps at this epoch's pace; validation not included)\n");
    } else {
      b.append("ETA: - (no step of this epoch committed yet)\n");
    }
    b.append(String.format(Locale.ROOT, "ring generation %d, %d workers; workers joined %d, lost %d;"
            + " bags skipped %d; slides quarantined %d%n", (long) get(s, "bagpipe_ring_generation"),
        (long) get(s, "bagpipe_ring_workers"), (long) get(s, "bagpipe_workers_joined_total"),
        (long) get(s, "bagpipe_workers_lost_total"), (long) get(s, "bagpipe_bags_skipped_total"),
        (long) get(s, "bagpipe_slides_quarantined_total")));
    if (get(s, "bagpipe_epochs_completed_total") > 0) {
      b.append(String.format(Locale.ROOT, "last epoch: val loss %.4f  accuracy %.3f  AUC %.3f%n",
          get(s, "bagpipe_val_loss"), get(s, "bagpipe_val_accuracy"), get(s, "bagpipe_val_auc")));
    }
    return b.toString();
  }

  private String node(String target, Scrape s) {
    String node = s.samples().stream().filter(x -> x.name().equals("bagpipe_epoch")).findFirst()
        .map(x -> x.labels().getOrDefault("node", target)).orElse(target);
    long now = System.nanoTime();
    double patches = s.sum("bagpipe_loader_patches_total");
    double decodeSeconds = s.sum("bagpipe_loader_decode_seconds_total");
    double reduceBytes = s.sum("bagpipe_allreduce_bytes_total");
    double reduceSeconds = s.sum("bagpipe_allreduce_seconds_total");
    Previous p = previous.put(target, new Previous(now, patches, reduceBytes, reduceSeconds));
    String decode;
    if (p != null && now > p.nanos()) {
      decode = String.format(Locale.ROOT, "%.0f patches/s", (patches - p.patches()) / ((now - p.nanos()) / 1e9));
    } else {
      decode = decodeSeconds > 0 ? String.format(Locale.ROOT, "%.0f patches per loader-second", patches / decodeSeconds)
          : "-";
    }
    double bytes = p == null ? reduceBytes : reduceBytes - p.reduceBytes();
    double seconds = p == null ? reduceSeconds : reduceSeconds - p.reduceSeconds();
    String bandwidth = bytes > 0 && seconds > 0 ? rate(bytes / seconds) : "-";
    int workers = s.all("bagpipe_worker_steps_total").size();
    double heap = s.sum("jvm_memory_used_bytes", "area", "heap");
    return String.format(Locale.ROOT,
        "  node %s (metrics %s): workers %d, loader queue %d bags, decode %s, all-reduce %s, heap %.0f MiB%n", node,
        target, workers, (long) s.sum("bagpipe_loader_bags_in_flight"), decode, bandwidth, heap / (1 << 20));
  }

  private String faults() throws IOException {
    Path file = runDir.resolve("faults.jsonl");
    if (!Files.isRegularFile(file)) {
      return "recent faults: none\n";
    }
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    if (lines.isEmpty()) {
      return "recent faults: none\n";
    }
    StringBuilder b = new StringBuilder("recent faults (" + lines.size() + " in " + file.getFileName() + "):\n");
    for (String line : lines.subList(Math.max(0, lines.size() - FAULTS_SHOWN), lines.size())) {
      b.append("  epoch ").append(field(line, "epoch")).append(" step ").append(field(line, "step")).append("  ")
          .append(field(line, "kind")).append(": ").append(field(line, "detail")).append('\n');
    }
    return b.toString();
  }

  private static String field(String json, String key) {
    Matcher m = Pattern.compile("\"" + key + "\":(\"((?:[^\"\\\\]|\\\\.)*)\"|[^,}]*)").matcher(json);
    if (!m.find()) {
      return "?";
    }
    return m.group(2) != null ? m.group(2).replace("\\\"", "\"") : m.group(1);
  }

  private static String rate(double bytesPerSecond) {
    return bytesPerSecond >= 1e9 ? String.format(Locale.ROOT, "%.2f GB/s", bytesPerSecond / 1e9)
        : String.format(Locale.ROOT, "%.1f MB/s", bytesPerSecond / 1e6);
  }

  private static double get(Scrape s, String name) {
    return s.value(name).orElse(Double.NaN);
  }

  private static String duration(double seconds) {
    long s = Math.round(seconds);
    return s >= 3600 ? String.format(Locale.ROOT, "%d h %02d min", s / 3600, s / 60 % 60)
        : s >= 60 ? String.format(Locale.ROOT, "%d min %02d s", s / 60, s % 60) : s + " s";
  }
}
