package io.bagpipe.report;

import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigSyntax;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * {@code bagpipe report}: turns a run directory into one self-contained {@code report.html}
 * (inline CSS, plots as base64 PNG data URIs) and the same plots as {@code report/*.png}. It reads
 * {@code metrics.jsonl} (required), {@code faults.jsonl}, {@code config.conf} and
 * {@code predictions/val-epoch-NNNN.csv} of the best epoch (highest val AUC, else lowest val loss,
 * else the last), for the ROC curve. Everything it reads is small: one line per epoch, fault or
 * validation slide. Plots are drawn with Java2D.
 */
public final class RunReport {

  private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
      new Color(0xff7f0e), new Color(0x9467bd), new Color(0x8c564b)};
  private static final String[] STAGES = {"decode_wait", "upload", "forward", "backward", "all_reduce", "optimizer"};

  private RunReport() {}

  /** One epoch line of metrics.jsonl. */
  record Epoch(int epoch, double trainLoss, double valLoss, double accuracy, double auc, long[][] confusion,
      double bagsPerSecond, double wallSeconds, Map<String, Double> stages) {}

  /**
   * Writes {@code runDir/report.html} and {@code runDir/report/*.png}.
   *
   * @return the HTML file
   * @throws IllegalArgumentException naming the file and line of a missing or malformed input
   */
  public static Path write(Path runDir) throws IOException {
    Path metricsFile = runDir.resolve("metrics.jsonl");
    if (!Files.isRegularFile(metricsFile)) {
      throw new IllegalArgumentException(metricsFile + " does not exist: is " + runDir + " a run directory?");
    }
    List<Epoch> epochs = new ArrayList<>();
    List<String> lines = Files.readAllLines(metricsFile, StandardCharsets.UTF_8);
    for (int i = 0; i < lines.size(); i++) {
      if (!lines.get(i).isBlank()) {
        epochs.add(epoch(json(lines.get(i), metricsFile, i + 1), metricsFile, i + 1));
      }
    }
    if (epochs.isEmpty()) {
      throw new IllegalArgumentException(metricsFile + " holds no epoch yet");
    }
    Epoch best = best(epochs);
    Path pngDir = Files.createDirectories(runDir.resolve("report"));
    Map<String, BufferedImage> plots = new LinkedHashMap<>();
    plots.put("loss", lines("Loss per epoch", "loss", epochs, Map.of("train", Epoch::trainLoss, "val", Epoch::valLoss)));
    plots.put("val-metrics", lines("Validation metrics per epoch", "value", epochs,
        Map.of("accuracy", Epoch::accuracy, "AUC", Epoch::auc)));
    Map<String, java.util.function.ToDoubleFunction<Epoch>> stageSeries = new LinkedHashMap<>();
    for (String s : STAGES) {
      stageSeries.put(s, e -> e.stages().getOrDefault(s, Double.NaN));
    }
    plots.put("stages", lines("Mean stage time per step (ms)", "ms", epochs, stageSeries));
    plots.put("throughput", lines("Training throughput", "bags/s", epochs, Map.of("bags/s", Epoch::bagsPerSecond)));
    Path predictions = runDir.resolve("predictions").resolve(String.format("val-epoch-%04d.csv", best.epoch()));
    List<double[]> rocPoints = null;
    if (Files.isRegularFile(predictions)) {
      rocPoints = roc(predictions);
      plots.put("roc", rocPlot("ROC, epoch " + (best.epoch() + 1) + " (class 1 vs rest)", rocPoints));
    }
    StringBuilder h = new StringBuilder();
    h.append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Bagpipe run report</title><style>")
        .append("body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}")
        .append("table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #bbb;padding:3px 8px;")
        .append("text-align:right;font-size:13px}th{background:#eee}img{max-width:100%;margin:6px 0}")
        .append("pre{background:#f6f6f6;padding:8px;font-size:12px;max-height:400px;overflow:auto}")
        .append(".best{background:#fff3c4}</style></head><body>");
    h.append("<h1>Bagpipe run report</h1><p>").append(esc(runDir.toAbsolutePath().toString())).append("</p>");
    h.append("<h2>Best epoch: ").append(best.epoch() + 1).append("</h2><table><tr><th>val AUC</th><th>val accuracy</th>")
        .append("<th>val loss</th><th>train loss</th><th>bags/s</th></tr><tr><td>").append(fmt(best.auc()))
        .append("</td><td>").append(fmt(best.accuracy())).append("</td><td>").append(fmt(best.valLoss()))
        .append("</td><td>").append(fmt(best.trainLoss())).append("</td><td>").append(fmt(best.bagsPerSecond()))
        .append("</td></tr></table>");
    if (best.confusion() != null) {
      h.append("<h3>Confusion matrix (rows: true class, columns: predicted)</h3><table><tr><th></th>");
      List<String> names = classNames(runDir, best.confusion().length);
      for (int c = 0; c < best.confusion().length; c++) {
        h.append("<th>").append(esc(names.get(c))).append("</th>");
      }
      h.append("</tr>");
      for (int a = 0; a < best.confusion().length; a++) {
        h.append("<tr><th>").append(esc(names.get(a))).append("</th>");
        for (long n : best.confusion()[a]) {
          h.append("<td>").append(n).append("</td>");
        }
        h.append("</tr>");
      }
      h.append("</table>");
    }
    if (rocPoints == null) {
      h.append("<p>No per-slide predictions for epoch ").append(best.epoch() + 1).append(" (").append(esc(
          runDir.relativize(predictions).toString())).append("): no ROC curve.</p>");
    }
    h.append("<h2>Plots</h2>");
    for (var p : plots.entrySet()) {
      ByteArrayOutputStream png = new ByteArrayOutputStream();
      ImageIO.write(p.getValue(), "png", png);
      Files.write(pngDir.resolve(p.getKey() + ".png"), png.toByteArray());
      h.append("<div><img alt=\"").append(p.getKey()).append("\" src=\"data:image/png;base64,")
          .append(Base64.getEncoder().encodeToString(png.toByteArray())).append("\"></div>");
    }
    h.append("<h2>Epochs</h2><table><tr><th>epoch</th><th>train loss</th><th>val loss</th><th>val acc</th>")
        .append("<th>val AUC</th><th>bags/s</th><th>wall s</th>");
    for (String s : STAGES) {
      h.append("<th>").append(s).append(" ms</th>");
    }
    h.append("</tr>");
    for (Epoch e : epochs) {
      h.append(e == best ? "<tr class=\"best\">" : "<tr>").append("<td>").append(e.epoch() + 1).append("</td>");
      for (double d : new double[] {e.trainLoss(), e.valLoss(), e.accuracy(), e.auc(), e.bagsPerSecond(),
          e.wallSeconds()}) {
        h.append("<td>").append(fmt(d)).append("</td>");
      }
      for (String s : STAGES) {
        h.append("<td>").append(fmt(e.stages().getOrDefault(s, Double.NaN))).append("</td>");
      }
      h.append("</tr>");
    }
    h.append("</table>");
    Path faults = runDir.resolve("faults.jsonl");
    List<String> faultLines = Files.isRegularFile(faults)
        ? Files.readAllLines(faults, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).toList() : List.of();
    h.append("<h2>Faults</h2>");
    h.append(faultLines.isEmpty() ? "<p>None recorded.</p>" : "<pre>" + esc(String.join("\n", faultLines)) + "</pre>");
    Path config = runDir.resolve("config.conf");
    h.append("<h2>Configuration</h2>");
    h.append(Files.isRegularFile(config) ? "<pre>" + esc(Files.readString(config)) + "</pre>"
        : "<p>The run directory holds no config.conf.</p>");
    h.append("</body></html>\n");
    Path html = runDir.resolve("report.html");
    Path tmp = runDir.resolve("report.html.tmp");
    Files.writeString(tmp, h, StandardCharsets.UTF_8);
    Files.move(tmp, html, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    return html;
  }

  /** The run's class names from its {@code classes.json}, or {@code 0 .. k-1} without one. */
  static List<String> classNames(Path runDir, int classes) throws IOException {
    Path file = runDir.resolve("classes.json");
    if (Files.isRegularFile(file)) {
      com.typesafe.config.Config c = com.typesafe.config.ConfigFactory.parseString(Files.readString(file));
      if (c.hasPath("classes") && c.getStringList("classes").size() == classes) {
        return c.getStringList("classes");
      }
    }
    return java.util.stream.IntStream.range(0, classes).mapToObj(Integer::toString).toList();
  }

  static Epoch best(List<Epoch> epochs) {
    Epoch best = null;
    for (Epoch e : epochs) {
      if (!Double.isNaN(e.auc()) && (best == null || e.auc() >= best.auc())) {
        best = e;
      }
    }
    if (best == null) {
      for (Epoch e : epochs) {
        if (!Double.isNaN(e.valLoss()) && (best == null || e.valLoss() <= best.valLoss())) {
          best = e;
        }
      }
    }
    return best != null ? best : epochs.getLast();
  }

  private static ConfigObject json(String line, Path file, int n) {
    try {
      return ConfigFactory.parseString(line, ConfigParseOptions.defaults().setSyntax(ConfigSyntax.JSON)).root();
    } catch (ConfigException e) {
      throw new IllegalArgumentException(file + " line " + n + " is not JSON: " + e.getMessage());
    }
  }

  private static Epoch epoch(ConfigObject o, Path file, int n) {
    if (!(o.get("epoch") instanceof ConfigValue v && v.unwrapped() instanceof Number epoch)) {
      throw new IllegalArgumentException(file + " line " + n + " has no epoch number");
    }
    long[][] confusion = null;
    if (o.get("confusion") instanceof ConfigValue c && c.valueType() == ConfigValueType.LIST) {
      List<?> rows = (List<?>) c.unwrapped();
      confusion = new long[rows.size()][];
      for (int a = 0; a < rows.size(); a++) {
        confusion[a] = ((List<?>) rows.get(a)).stream().mapToLong(x -> ((Number) x).longValue()).toArray();
      }
    }
    Map<String, Double> stages = new LinkedHashMap<>();
    if (o.get("stage_ms") instanceof ConfigObject s) {
      for (String k : STAGES) {
        stages.put(k, num(s, k));
      }
    }
    return new Epoch(epoch.intValue(), num(o, "train_loss"), num(o, "val_loss"), num(o, "val_accuracy"),
        num(o, "val_auc"), confusion, num(o, "bags_per_s"), num(o, "wall_s"), stages);
  }

  private static double num(ConfigObject o, String key) {
    return o.get(key) != null && o.get(key).unwrapped() instanceof Number x ? x.doubleValue() : Double.NaN;
  }

  /**
   * ROC points (false positive rate, true positive rate) of class 1's probability against
   * label 1 (the rest as negatives), from a predictions CSV.
   */
  static List<double[]> roc(Path csv) throws IOException {
    List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
    List<double[]> scored = new ArrayList<>(); // {score, positive}
    for (int i = 1; i < lines.size(); i++) {
      String[] f = lines.get(i).split(",");
      if (f.length < 5) {
        throw new IllegalArgumentException(csv + " line " + (i + 1) + ": need slide_id,label,bags,p0,p1,...");
      }
      try {
        scored.add(new double[] {Double.parseDouble(f[4]), Integer.parseInt(f[1]) == 1 ? 1 : 0});
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(csv + " line " + (i + 1) + ": " + e.getMessage());
      }
    }
    scored.sort((a, b) -> Double.compare(b[0], a[0]));
    double positives = scored.stream().filter(s -> s[1] == 1).count();
    double negatives = scored.size() - positives;
    List<double[]> points = new ArrayList<>(List.of(new double[] {0, 0}));
    double tp = 0;
    double fp = 0;
    for (int i = 0; i < scored.size(); i++) {
      tp += scored.get(i)[1];
      fp += 1 - scored.get(i)[1];
      if (i == scored.size() - 1 || scored.get(i + 1)[0] != scored.get(i)[0]) { // ties form one step
        points.add(new double[] {negatives == 0 ? 0 : fp / negatives, positives == 0 ? 0 : tp / positives});
      }
    }
    return points;
  }

  private static final int W = 760;
  private static final int H = 340;
  private static final int L = 70;
  private static final int R = 150;
  private static final int T = 40;
  private static final int B = 45;

  private static Graphics2D canvas(BufferedImage img, String title) {
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, img.getWidth(), img.getHeight());
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
    g.drawString(title, L, 24);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    return g;
  }

  /** A line chart over epochs, one series per entry; NaN values are left out. */
  static BufferedImage lines(String title, String yLabel, List<Epoch> epochs,
      Map<String, java.util.function.ToDoubleFunction<Epoch>> series) {
    BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = canvas(img, title);
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    for (var f : series.values()) {
      for (Epoch e : epochs) {
        double v = f.applyAsDouble(e);
        if (Double.isFinite(v)) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
    }
    if (lo > hi) {
      lo = 0;
      hi = 1;
    }
    if (lo >= 0 && lo < (hi - lo)) {
      lo = 0;
    }
    if (hi - lo < 1e-9) {
      hi = lo + 1;
    }
    // Epochs as the command line counts them, from 1 (metrics.jsonl counts from 0).
    int first = epochs.getFirst().epoch() + 1;
    int last = Math.max(first + 1, epochs.getLast().epoch() + 1);
    axes(g, first, last, lo, hi, yLabel, "epoch");
    int k = 0;
    List<String> names = new ArrayList<>(series.keySet());
    java.util.Collections.sort(names);
    for (String name : names) {
      Color c = PALETTE[k % PALETTE.length];
      g.setColor(c);
      g.setStroke(new BasicStroke(2f));
      int[] prev = null;
      for (Epoch e : epochs) {
        double v = series.get(name).applyAsDouble(e);
        if (!Double.isFinite(v)) {
          prev = null;
          continue;
        }
        int x = px(e.epoch() + 1, first, last);
        int y = py(v, lo, hi);
        g.fillOval(x - 3, y - 3, 7, 7);
        if (prev != null) {
          g.drawLine(prev[0], prev[1], x, y);
        }
        prev = new int[] {x, y};
      }
      g.fillRect(W - R + 15, T + 10 + 18 * k, 14, 4);
      g.setColor(Color.BLACK);
      g.drawString(name, W - R + 35, T + 16 + 18 * k);
      k++;
    }
    g.dispose();
    return img;
  }

  static BufferedImage rocPlot(String title, List<double[]> points) {
    BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = canvas(img, title);
    axes(g, 0, 1, 0, 1, "true positive rate", "false positive rate");
    g.setColor(Color.LIGHT_GRAY);
    g.drawLine(px(0, 0, 1), py(0, 0, 1), px(1, 0, 1), py(1, 0, 1));
    g.setColor(PALETTE[0]);
    g.setStroke(new BasicStroke(2f));
    for (int i = 1; i < points.size(); i++) {
      double[] a = points.get(i - 1);
      double[] b = points.get(i);
      g.drawLine(px(a[0], 0, 1), py(a[1], 0, 1), px(b[0], 0, 1), py(b[1], 0, 1));
    }
    g.dispose();
    return img;
  }

  private static void axes(Graphics2D g, double x0, double x1, double y0, double y1, String yLabel, String xLabel) {
    g.setColor(Color.BLACK);
    g.drawRect(L, T, W - L - R, H - T - B);
    for (int i = 0; i <= 4; i++) {
      double v = y0 + (y1 - y0) * i / 4;
      int y = py(v, y0, y1);
      g.setColor(new Color(0xe4e4e4));
      g.drawLine(L + 1, y, W - R - 1, y);
      g.setColor(Color.BLACK);
      g.drawString(tick(v), 8, y + 4);
    }
    boolean integers = x1 - x0 >= 1 && x0 == Math.rint(x0) && x1 == Math.rint(x1) && !xLabel.contains("rate");
    int steps = integers ? (int) Math.min(10, x1 - x0) : 4;
    for (int i = 0; i <= steps; i++) {
      double v = x0 + (x1 - x0) * i / steps;
      String s = integers ? Long.toString(Math.round(v)) : tick(v);
      g.drawString(s, px(v, x0, x1) - 4, H - B + 16);
    }
    g.drawString(xLabel, (W - R + L) / 2 - 20, H - 8);
    g.drawString(yLabel, W - R + 15, H - B);
  }

  private static int px(double v, double x0, double x1) {
    return L + (int) Math.round((v - x0) / (x1 - x0) * (W - L - R));
  }

  private static int py(double v, double y0, double y1) {
    return H - B - (int) Math.round((v - y0) / (y1 - y0) * (H - T - B));
  }

  private static String tick(double v) {
    return Math.abs(v) >= 100 ? String.format("%.0f", v) : String.format("%.3g", v);
  }

  private static String fmt(double d) {
    return Double.isFinite(d) ? String.format("%.4g", d) : "–";
  }

  static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}
