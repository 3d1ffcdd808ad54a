package io.bagpipe.coordinator;

import io.bagpipe.serialization.Json;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Collections;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Everything the coordinator knows about one finished epoch, merged from the
 * workers' step reports and the validation pass; one line of the metrics log.
 * Numbers that were not measured (no validation this epoch) are NaN.
 *
 * @param epoch the epoch
 * @param trainLoss mean training loss of the epoch's bags
 * @param valLoss mean validation loss of the bags
 * @param accuracy slide-level validation accuracy
 * @param auc slide-level validation ROC AUC (macro one-vs-rest above 2 classes)
 * @param confusion validation confusion matrix, null when there was no validation
 * @param bagsPerSecond training bags per second of wall time
 * @param trainBags training bags in the epoch
 * @param valBags validation bags evaluated
 * @param wallSeconds wall time of the epoch
 * @param stages mean per-step stage times
 * @param extras further values by name, each a {@link String}, {@link Number} or {@link Boolean}; kept sorted
 */
public record EpochRecord(int epoch, double trainLoss, double valLoss, double accuracy, double auc,
    ConfusionMatrix confusion, double bagsPerSecond, long trainBags, long valBags, double wallSeconds, StageTimes stages,
    SortedMap<String, Object> extras) {

  public EpochRecord {
    Objects.requireNonNull(stages, "stages");
    Objects.requireNonNull(extras, "extras");
    if (epoch < 0 || trainBags < 0 || valBags < 0 || wallSeconds < 0 || bagsPerSecond < 0) {
      throw new IllegalArgumentException("epoch record " + epoch + ": epoch, bag counts, wall time and bags/s must be"
          + " >= 0, got " + trainBags + " train bags, " + valBags + " val bags, " + wallSeconds + " s, "
          + bagsPerSecond + " bags/s");
    }
    SortedMap<String, Object> copy = new TreeMap<>();
    extras.forEach((k, v) -> {
      if (k == null || !(v instanceof String || v instanceof Number || v instanceof Boolean)) {
        throw new IllegalArgumentException("epoch record extra " + k + " = " + v
            + ": keys must be non-null, values strings, numbers or booleans");
      }
      copy.put(k, v);
    });
    extras = Collections.unmodifiableSortedMap(copy);
  }

  /**
   * The value of a metric by the name the metrics log and {@code bagpipe.checkpoint.best-metric}
   * use: {@code val_auc}, {@code val_loss}, {@code val_accuracy}, {@code train_loss}, or a
   * numeric extra.
   *
   * @throws IllegalArgumentException for any other name
   */
  public double metric(String name) {
    return switch (name) {
      case "val_auc" -> auc;
      case "val_loss" -> valLoss;
      case "val_accuracy" -> accuracy;
      case "train_loss" -> trainLoss;
      default -> {
        if (extras.get(name) instanceof Number n) {
          yield n.doubleValue();
        }
        throw new IllegalArgumentException("unknown metric " + name + "; known: val_auc, val_loss, val_accuracy,"
            + " train_loss and numeric extras " + extras.keySet());
      }
    };
  }

  /**
   * This record as one line of JSON (no line break): numbers in plain decimal, NaN and
   * infinities as {@code null}, strings escaped. Fields: {@code epoch, train_loss,
   * val_loss, val_accuracy, val_auc, confusion} (rows by true class), {@code bags_per_s,
   * train_bags, val_bags, wall_s, stage_ms} (an object of the stages) and {@code extras}.
   */
  public String toJson() {
    StringBuilder b = new StringBuilder(256).append('{');
    key(b, "epoch").append(epoch);
    number(key(b, ",train_loss"), trainLoss);
    number(key(b, ",val_loss"), valLoss);
    number(key(b, ",val_accuracy"), accuracy);
    number(key(b, ",val_auc"), auc);
    confusion(key(b, ",confusion"), confusion);
    number(key(b, ",bags_per_s"), bagsPerSecond);
    key(b, ",train_bags").append(trainBags);
    key(b, ",val_bags").append(valBags);
    number(key(b, ",wall_s"), wallSeconds);
    key(b, ",stage_ms").append('{');
    number(key(b, "decode_wait"), stages.decodeWaitMs());
    number(key(b, ",upload"), stages.uploadMs());
    number(key(b, ",forward"), stages.forwardMs());
    number(key(b, ",backward"), stages.backwardMs());
    number(key(b, ",all_reduce"), stages.allReduceMs());
    number(key(b, ",optimizer"), stages.optimizerMs());
    key(b.append('}'), ",extras").append('{');
    boolean first = true;
    for (var e : extras.entrySet()) {
      Json.string(b.append(first ? "" : ","), e.getKey()).append(':');
      first = false;
      switch (e.getValue()) {
        case String v -> Json.string(b, v);
        case Boolean v -> b.append(v);
        case Number v -> number(b, v);
        default -> throw new AssertionError(e);
      }
    }
    return b.append("}}").toString();
  }

  /** Appends {@code m} as an array of rows (by true class), or {@code null}. */
  static StringBuilder confusion(StringBuilder b, ConfusionMatrix m) {
    if (m == null) {
      return b.append("null");
    }
    b.append('[');
    long[][] rows = m.rows();
    for (int a = 0; a < rows.length; a++) {
      b.append(a == 0 ? "[" : ",[");
      for (int p = 0; p < rows[a].length; p++) {
        b.append(p == 0 ? "" : ",").append(rows[a][p]);
      }
      b.append(']');
    }
    return b.append(']');
  }

  /** Appends a fixed field name: {@code ",name"} becomes {@code ,"name":}. */
  private static StringBuilder key(StringBuilder b, String name) {
    boolean comma = name.startsWith(",");
    return b.append(comma ? ",\"" : "\"").append(comma ? name.substring(1) : name).append("\":");
  }

  static StringBuilder number(StringBuilder b, Number n) {
    return switch (n) {
      case Double d -> number(b, d.doubleValue());
      case Float f -> Float.isFinite(f) ? b.append(new BigDecimal(Float.toString(f)).toPlainString()) : b.append("null");
      case BigDecimal d -> b.append(d.toPlainString());
      case Byte x -> b.append(x.longValue());
      case Short x -> b.append(x.longValue());
      case Integer x -> b.append(x.longValue());
      case Long x -> b.append(x.longValue());
      case BigInteger x -> b.append(x);
      default -> number(b, n.doubleValue());
    };
  }

  static StringBuilder number(StringBuilder b, double d) {
    return Double.isFinite(d) ? b.append(BigDecimal.valueOf(d).toPlainString()) : b.append("null");
  }
}
