package io.bagpipe.predict;

import io.bagpipe.coordinator.ClassificationMetrics;
import io.bagpipe.coordinator.SlidePrediction;
import io.bagpipe.slide.synth.TumourTruth;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * Slide-level metrics of a prediction on labelled slides, written next to its predictions:
 * {@code metrics.json} (accuracy, ROC AUC and confusion matrix, computed as training's
 * validation computes them: {@link ClassificationMetrics}), {@code roc.csv} (the ROC curve's
 * points), {@code roc.png} and {@code confusion.png}.
 *
 * <p>The ROC curve is that of class 1's probability against class 1 vs the rest (the AUC of a
 * two-class model; with more classes, metrics.json's AUC is the macro average over classes).
 */
public final class Evaluation {

  private Evaluation() {}

  /** The metrics of the labelled slides of {@code results}. */
  public static ClassificationMetrics metrics(int classes, List<Prediction.SlideResult> results) {
    List<SlidePrediction> slides = new ArrayList<>();
    for (Prediction.SlideResult r : results) {
      if (r.label() >= 0) {
        slides.add(new SlidePrediction(r.slideId(), r.label(), r.probabilities(), 1));
      }
    }
    return ClassificationMetrics.of(classes, slides, Double.NaN);
  }

  /**
   * The ROC curve of {@code scores} for telling {@code positive} from the rest: points
   * (false positive rate, true positive rate, threshold) from (0,0) to (1,1), one per distinct
   * score, highest threshold first. Empty when there are no positives or no negatives.
   */
  public static List<double[]> roc(double[] scores, boolean[] positive) {
    int n = scores.length;
    long positives = 0;
    for (boolean p : positive) {
      positives += p ? 1 : 0;
    }
    long negatives = n - positives;
    if (positives == 0 || negatives == 0) {
      return List.of();
    }
    Integer[] order = new Integer[n];
    Arrays.setAll(order, i -> i);
    Arrays.sort(order, (a, b) -> Double.compare(scores[b], scores[a]));
    List<double[]> points = new ArrayList<>();
    points.add(new double[] {0, 0, Double.POSITIVE_INFINITY});
    long tp = 0;
    long fp = 0;
    for (int i = 0; i < n; i++) {
      if (positive[order[i]]) {
        tp++;
      } else {
        fp++;
      }
      if (i + 1 == n || scores[order[i + 1]] != scores[order[i]]) {
        points.add(new double[] {(double) fp / negatives, (double) tp / positives, scores[order[i]]});
      }
    }
    return points;
  }

  /**
   * The tumour hit rate of a synthetic data set: over its positive slides, the mean fraction of
   * each slide's top-k attention patches ({@link Prediction.SlideResult#top}) that overlap tumour.
   * NaN when no positive slide was predicted.
   */
  public static double tumourHitRate(TumourTruth truth, List<Prediction.SlideResult> results) {
    double sum = 0;
    int slides = 0;
    for (Prediction.SlideResult r : results) {
      if (r.label() != 1 || r.top().length == 0) {
        continue;
      }
      int hits = 0;
      for (int i = 0; i < r.top().length; i += 2) {
        hits += truth.overlapsTumour(r.slideId(), r.top()[i], r.top()[i + 1], r.span()) ? 1 : 0;
      }
      sum += hits / (r.top().length / 2.0);
      slides++;
    }
    return slides == 0 ? Double.NaN : sum / slides;
  }

  /** Writes metrics.json, roc.csv, roc.png and confusion.png into {@code out}; returns the metrics. */
  public static ClassificationMetrics write(Path out, int classes, List<Prediction.SlideResult> results,
      Double tumourHitRate, int topK) throws IOException {
    ClassificationMetrics m = metrics(classes, results);
    List<Prediction.SlideResult> labelled = results.stream().filter(r -> r.label() >= 0).toList();
    double[] scores = new double[labelled.size()];
    boolean[] positive = new boolean[labelled.size()];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = labelled.get(i).probabilities()[1];
      positive[i] = labelled.get(i).label() == 1;
    }
    List<double[]> roc = roc(scores, positive);
    StringBuilder csv = new StringBuilder("fpr,tpr,threshold\n");
    for (double[] p : roc) {
      csv.append(String.format(Locale.ROOT, "%.6f,%.6f,%s%n", p[0], p[1], Double.isInfinite(p[2]) ? "inf" : String.format(Locale.ROOT, "%.6f", p[2])));
    }
    writeText(out.resolve("roc.csv"), csv.toString());
    StringBuilder j = new StringBuilder("{\n");
    j.append("  \"slides\": ").append(m.slides()).append(",\n");
    j.append("  \"classes\": ").append(classes).append(",\n");
    j.append("  \"accuracy\": ").append(number(m.accuracy())).append(",\n");
    j.append("  \"auc\": ").append(number(m.auc())).append(",\n");
    j.append("  \"confusion\": [");
    long[][] rows = m.confusion().rows();
    for (int r = 0; r < rows.length; r++) {
      j.append(r == 0 ? "" : ", ").append(Arrays.toString(rows[r]));
    }
    j.append("],\n");
    j.append("  \"tumour_hit_rate\": ").append(tumourHitRate == null ? "null" : number(tumourHitRate)).append(",\n");
    j.append("  \"tumour_hit_top_k\": ").append(topK).append("\n}\n");
    writeText(out.resolve("metrics.json"), j.toString());
    writePng(out.resolve("roc.png"), rocImage(roc, m.auc()));
    writePng(out.resolve("confusion.png"), confusionImage(rows));
    return m;
  }

  private static String number(double v) {
    return Double.isNaN(v) ? "null" : String.format(Locale.ROOT, "%.6f", v);
  }

  private static BufferedImage rocImage(List<double[]> roc, double auc) {
    int size = 480;
    int pad = 50;
    BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, size, size);
      int plot = size - 2 * pad;
      g.setColor(Color.BLACK);
      g.drawRect(pad, pad, plot, plot);
      g.setColor(Color.LIGHT_GRAY);
      g.drawLine(pad, pad + plot, pad + plot, pad);
      g.setColor(new Color(0xC0, 0x20, 0x20));
      g.setStroke(new BasicStroke(2.5f));
      for (int i = 1; i < roc.size(); i++) {
        double[] a = roc.get(i - 1);
        double[] b = roc.get(i);
        g.drawLine(pad + (int) (a[0] * plot), pad + plot - (int) (a[1] * plot), pad + (int) (b[0] * plot),
            pad + plot - (int) (b[1] * plot));
      }
      g.setColor(Color.BLACK);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
      g.drawString("ROC, AUC " + (Double.isNaN(auc) ? "undefined" : String.format(Locale.ROOT, "%.3f", auc)), pad, pad - 15);
      g.drawString("false positive rate", size / 2 - 60, size - 15);
      g.drawString("0", pad - 12, pad + plot + 15);
      g.drawString("1", pad + plot - 4, pad + plot + 15);
      g.drawString("1", pad - 12, pad + 5);
      g.rotate(-Math.PI / 2);
      g.drawString("true positive rate", -size / 2 - 60, 25);
    } finally {
      g.dispose();
    }
    return img;
  }

  private static BufferedImage confusionImage(long[][] rows) {
    int k = rows.length;
    int cell = Math.max(40, 320 / k);
    int pad = 70;
    int size = pad + k * cell + 20;
    BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, size, size);
      long max = 1;
      for (long[] r : rows) {
        for (long v : r) {
          max = Math.max(max, v);
        }
      }
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
      for (int a = 0; a < k; a++) {
        for (int p = 0; p < k; p++) {
          float t = rows[a][p] / (float) max;
          g.setColor(new Color(1 - 0.8f * t, 1 - 0.5f * t, 1f));
          g.fillRect(pad + p * cell, pad + a * cell, cell, cell);
          g.setColor(Color.DARK_GRAY);
          g.drawRect(pad + p * cell, pad + a * cell, cell, cell);
          g.setColor(t > 0.6f ? Color.WHITE : Color.BLACK);
          g.drawString(Long.toString(rows[a][p]), pad + p * cell + cell / 2 - 8, pad + a * cell + cell / 2 + 5);
        }
        g.setColor(Color.BLACK);
        g.drawString(Integer.toString(a), pad - 20, pad + a * cell + cell / 2 + 5);
        g.drawString(Integer.toString(a), pad + a * cell + cell / 2 - 4, pad - 8);
      }
      g.drawString("true \u2193  predicted \u2192", 5, 20);
    } finally {
      g.dispose();
    }
    return img;
  }

  private static void writeText(Path file, String text) throws IOException {
    Path part = file.resolveSibling(file.getFileName() + ".part");
    Files.writeString(part, text, StandardCharsets.UTF_8);
    Files.move(part, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static void writePng(Path file, BufferedImage img) throws IOException {
    Path part = file.resolveSibling(file.getFileName() + ".part");
    if (!ImageIO.write(img, "png", part.toFile())) {
      throw new IOException("no PNG writer for " + file);
    }
    Files.move(part, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
