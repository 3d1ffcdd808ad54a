package io.bagpipe.cli;

import io.bagpipe.api.RunEvent;
import io.bagpipe.api.RunResult;
import io.bagpipe.coordinator.EpochRecord;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Flow;

/**
 * Shows a run to a person: a progress bar per epoch (bags, loss, bags/s, ETA) that
 * redraws in place on a terminal and prints a few lines otherwise, one summary line
 * per epoch, skipped bags as warnings, and a table of all epochs at the end.
 */
final class ProgressPrinter implements Flow.Subscriber<RunEvent> {

  private static final int BAR = 28;

  private final PrintStream out;
  private final boolean terminal;
  private final CountDownLatch done = new CountDownLatch(1);
  private final List<EpochRecord> records = new ArrayList<>();
  private int epochs;
  private int epochBags;
  private int skipped;
  private long lastDraw;
  private int lastDecile = -1;
  private boolean barOpen;

  /** False for the other nodes of a launch: only warnings and failures. */
  private final boolean progress;

  ProgressPrinter(PrintStream out, boolean terminal) {
    this(out, terminal, true);
  }

  private ProgressPrinter(PrintStream out, boolean terminal, boolean progress) {
    this.out = out;
    this.terminal = terminal;
    this.progress = progress;
  }

  /** A printer that shows skipped bags, lost workers and failures, nothing else. */
  static ProgressPrinter warningsOnly(PrintStream out) {
    return new ProgressPrinter(out, false, false);
  }

  @Override
  public void onSubscribe(Flow.Subscription s) {
    s.request(Long.MAX_VALUE);
  }

  @Override
  public void onNext(RunEvent e) {
    switch (e) {
      case RunEvent.RunStarted r -> {
        epochs = r.epochs();
        info(String.format("run %s: %d worker(s), %d training and %d validation slides%s", r.runDir(), r.workers(),
            r.trainSlides(), r.validationSlides(),
            r.startEpoch() > 0 || r.startStep() > 0
                ? String.format(", resuming at epoch %d step %d", r.startEpoch() + 1, r.startStep())
                : ""));
      }
      case RunEvent.EpochStarted s -> {
        epochs = s.epochs(); // also on a node that joined, or whose Coordinator took over, after RunStarted
        lastDecile = -1;
        epochBags = s.bags();
        bar(s.epoch(), s.firstStep(), s.steps(), Double.NaN, 0, Double.NaN, true);
      }
      case RunEvent.StepCompleted s -> bar(s.epoch(), s.step(), s.steps(), s.meanLoss(), s.bagsPerSecond(),
          s.bagsPerSecond() > 0 ? Math.max(0, epochBags - s.bagsDone()) / s.bagsPerSecond() : Double.NaN, false);
      case RunEvent.ValidationStarted v -> {
        if (progress && terminal && barOpen) {
          out.print("  validating " + v.bags() + " bags ...");
          out.flush();
        }
      }
      case RunEvent.EpochCompleted c -> {
        records.add(c.record());
        EpochRecord r = c.record();
        info(String.format("epoch %d/%d  train loss %.4f  val loss %.4f  acc %.3f  AUC %.3f  %.2f bags/s  %.1f s",
            r.epoch() + 1, epochs, r.trainLoss(), r.valLoss(), r.accuracy(), r.auc(), r.bagsPerSecond(), r.wallSeconds()));
      }
      case RunEvent.BagSkipped b -> {
        skipped++;
        line("warning: skipped bag " + b.bagKey() + " of slide '" + b.slideId() + "': " + b.reason());
      }
      case RunEvent.CheckpointFailed f -> line("warning: " + f.reason());
      case RunEvent.SlideQuarantined q -> line("warning: slide '" + q.slideId() + "' quarantined (" + q.reason()
          + "): left out from epoch " + (q.epoch() + 2) + " on, and of a resumed run (quarantine.jsonl)");
      case RunEvent.WorkerLeft w -> line("worker " + w.rank() + " left: " + w.reason());
      case RunEvent.RingReformed g -> line("ring generation " + g.generation() + " formed with " + g.workers()
          + " worker(s) (" + g.reason() + "); training goes on from the last committed step");
      case RunEvent.RunPaused p -> line(String.format("paused: %d worker(s) left, fewer than"
          + " bagpipe.elastic.min-workers = %d; waiting up to %d s for workers to join (start a replacement node)",
          p.workers(), p.minWorkers(), p.waitSeconds()));
      case RunEvent.RunFailed f -> {
        line("run failed: " + f.reason());
      }
      case RunEvent.RunCompleted c -> {
        if (progress) {
          summary(c.result());
        }
      }
      case RunEvent.TestScored t -> info(String.format("test split (%d slides, scored once after epoch %d)  loss %.4f"
          + "  acc %.3f  AUC %.3f  (test-metrics.json)", t.result().slides(), t.result().epochs(), t.result().loss(),
          t.result().accuracy(), t.result().auc()));
      case RunEvent.EarlyStopped x -> info(String.format("early stopping after epoch %d: %s has not improved for"
          + " %d epoch(s) (bagpipe.train.early-stopping.patience = %d); best %.4f at epoch %d",
          x.epoch() + 1, x.metric(), x.epoch() - x.improvedEpoch(), x.patience(), x.bestValue(), x.bestEpoch() + 1));
      case RunEvent.EventsDropped d -> line("warning: " + d.count() + " progress events were dropped (this printer"
          + " fell more than bagpipe.events.buffer events behind)");
      case RunEvent.WorkerJoined j -> {}
      case RunEvent.CheckpointSaved s -> {}
    }
  }

  private void bar(int epoch, int step, int steps, double loss, double bagsPerSecond, double eta, boolean force) {
    if (!progress) {
      return;
    }
    long now = System.nanoTime();
    int decile = steps == 0 ? 10 : step * 10 / steps;
    if (!terminal) {
      if (decile == lastDecile && !force) {
        return;
      }
      lastDecile = decile;
    } else if (!force && step < steps && now - lastDraw < 200_000_000L) {
      return;
    }
    lastDraw = now;
    int filled = steps == 0 ? BAR : (int) ((long) BAR * step / steps);
    String text = String.format("epoch %d/%d [%s%s] %d/%d steps  loss %s  %s bags/s  ETA %s", epoch + 1, epochs,
        "#".repeat(filled), ".".repeat(BAR - filled), step, steps, Double.isNaN(loss) ? "-" : String.format("%.4f", loss),
        bagsPerSecond > 0 ? String.format("%.2f", bagsPerSecond) : "-", clock(eta));
    if (terminal) {
      out.print("\r\033[K" + text);
      barOpen = true;
    } else {
      out.println(text);
    }
    out.flush();
  }

  /** A progress line: shown unless this printer shows warnings only. */
  private void info(String s) {
    if (progress) {
      line(s);
    }
  }

  private void line(String s) {
    if (terminal && barOpen) {
      out.print("\r\033[K");
      barOpen = false;
    }
    out.println(s);
    out.flush();
  }

  private void summary(RunResult r) {
    line("");
    line(r.stopped() ? "stopped after " + r.epochsCompleted() + " epoch(s)" : "done: " + r.epochsCompleted() + " epoch(s)");
    if (!records.isEmpty()) {
      line(String.format("%6s %11s %9s %9s %8s %9s %8s", "epoch", "train loss", "val loss", "accuracy", "AUC", "bags/s", "wall s"));
      for (EpochRecord e : records) {
        line(String.format("%6d %11.4f %9.4f %9.3f %8.3f %9.2f %8.1f", e.epoch() + 1, e.trainLoss(), e.valLoss(),
            e.accuracy(), e.auc(), e.bagsPerSecond(), e.wallSeconds()));
      }
    }
    if (!Double.isNaN(r.bestValue())) {
      line(String.format("best %s %.4f at epoch %d%s", r.bestMetric(), r.bestValue(), r.bestEpoch() + 1,
          r.bestCheckpoint().isEmpty() ? "" : " (" + r.bestCheckpoint() + ")"));
    }
    if (skipped > 0) {
      line(skipped + " bag(s) skipped; see the warnings above");
    }
  }

  private static String clock(double seconds) {
    if (Double.isNaN(seconds) || Double.isInfinite(seconds)) {
      return "-";
    }
    long s = Math.round(seconds);
    return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format("%d:%02d", s / 60, s % 60);
  }

  @Override
  public void onError(Throwable t) {
    line("events failed: " + t);
    done.countDown();
  }

  @Override
  public void onComplete() {
    done.countDown();
  }

  /** Waits until the run's event stream has ended. */
  void await() throws InterruptedException {
    done.await();
  }

  /** Waits at most {@code timeout} until the run's event stream has ended; whether it has. */
  boolean await(long timeout, java.util.concurrent.TimeUnit unit) throws InterruptedException {
    return done.await(timeout, unit);
  }
}
