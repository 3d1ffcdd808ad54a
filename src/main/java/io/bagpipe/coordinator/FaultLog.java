package io.bagpipe.coordinator;

import io.bagpipe.serialization.Json;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code faults.jsonl} in the run directory: one line per loss, join and take-over,
 * written once the next step after it committed, with the wall-clock milliseconds of
 * each stage (detected; for a join, healed; the ring formed; the step committed), the
 * ring generation and its workers, the run position and the node that held the
 * Coordinator. Appended and forced to disk as {@link MetricsLog} does.
 */
final class FaultLog {

  /** A loss, join or take-over on its way to the next committed step; each stage's time, 0 until reached. */
  static final class Recovery {
    final String kind;
    final String detail;
    final long detectedMillis;
    long healStartMillis;
    long healedMillis;
    long ringMillis;
    long generation;
    int workers;

    Recovery(String kind, String detail, long detectedMillis) {
      this.kind = kind;
      this.detail = detail;
      this.detectedMillis = detectedMillis;
    }
  }

  private final MetricsLog log;
  private final String node;
  private final List<Recovery> pending = new ArrayList<>();

  /** A log appending to {@code log}, naming {@code node} (host:port) as the Coordinator's. */
  FaultLog(MetricsLog log, String node) {
    this.log = log;
    this.node = node;
  }

  Path file() {
    return log.file();
  }

  /** A recovery to be written at the next committed step. */
  void add(Recovery r) {
    pending.add(r);
  }

  /** Ring {@code generation} of {@code workers} formed: the stage of every pending recovery that waited for it. */
  void ringFormed(long generation, int workers) {
    long now = System.currentTimeMillis();
    for (Recovery r : pending) {
      if (r.ringMillis == 0) {
        r.ringMillis = now;
        r.generation = generation;
        r.workers = workers;
      }
    }
  }

  /** Step {@code step} of {@code epoch} committed: every pending recovery gets its line. */
  void committed(int epoch, int step) throws IOException {
    long now = System.currentTimeMillis();
    try {
      for (Recovery r : pending) {
        StringBuilder b = new StringBuilder("{\"kind\":");
        Json.string(b, r.kind).append(",\"detected_ms\":").append(r.detectedMillis);
        if (r.healStartMillis > 0) {
          b.append(",\"heal_start_ms\":").append(r.healStartMillis).append(",\"healed_ms\":").append(r.healedMillis);
        }
        b.append(",\"ring_formed_ms\":").append(r.ringMillis).append(",\"committed_ms\":").append(now)
            .append(",\"generation\":").append(r.generation).append(",\"workers\":").append(r.workers)
            .append(",\"epoch\":").append(epoch).append(",\"step\":").append(step).append(",\"node\":");
        Json.string(b, node).append(",\"detail\":");
        Json.string(b, r.detail).append('}');
        log.appendLine(b.toString());
      }
    } finally {
      pending.clear();
    }
  }

  boolean isEmpty() {
    return pending.isEmpty();
  }
}
