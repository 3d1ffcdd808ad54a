package io.bagpipe.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EpochRecordTest {

  static EpochRecord record(int epoch, SortedMap<String, Object> extras) {
    return new EpochRecord(epoch, 0.4375, Double.NaN, 0.75, 0.8125, ConfusionMatrix.of(new long[][] {{3, 1}, {0, 4}}),
        12.5, 800, 40, 64.25, new StageTimes(1.5, 0.25, 10, 20, 3.125, Double.NaN), extras);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> parse(String line) {
    return (Map<String, Object>) MiniJson.parse(line);
  }

  @Test
  void jsonLineParsesBackWithNaNAsNull() {
    String json = record(3, new TreeMap<>()).toJson();
    assertFalse(json.contains("\n"));
    Map<String, Object> m = parse(json);
    assertEquals(List.of("epoch", "train_loss", "val_loss", "val_accuracy", "val_auc", "confusion", "bags_per_s",
        "train_bags", "val_bags", "wall_s", "stage_ms", "extras"), List.copyOf(m.keySet()));
    assertEquals(new BigDecimal("3"), m.get("epoch"));
    assertEquals(new BigDecimal("0.4375"), m.get("train_loss"));
    assertNull(m.get("val_loss"));
    assertEquals(new BigDecimal("0.8125"), m.get("val_auc"));
    assertEquals(List.of(List.of(new BigDecimal(3), new BigDecimal(1)), List.of(new BigDecimal(0), new BigDecimal(4))),
        m.get("confusion"));
    assertEquals(new BigDecimal("800"), m.get("train_bags"));
    @SuppressWarnings("unchecked")
    Map<String, Object> stages = (Map<String, Object>) m.get("stage_ms");
    assertEquals(List.of("decode_wait", "upload", "forward", "backward", "all_reduce", "optimizer"), List.copyOf(stages.keySet()));
    assertEquals(new BigDecimal("3.125"), stages.get("all_reduce"));
    assertNull(stages.get("optimizer"));
    assertEquals(Map.of(), m.get("extras"));
  }

  @Test
  void numbersArePlainDecimalsAndStringsAreEscaped() {
    SortedMap<String, Object> extras = new TreeMap<>();
    extras.put("tiny", 1e-7);
    extras.put("huge", 1e20);
    extras.put("float", 0.1f);
    extras.put("count", 7L);
    extras.put("inf", Double.POSITIVE_INFINITY);
    extras.put("flag", true);
    String nasty = "say \"hi\"\\ to\nall\t\u0001 é 🧫 \u2028 lone\ud800 end";
    extras.put("model \"x\"", nasty);
    String json = record(0, extras).toJson();
    assertTrue(json.contains("\"tiny\":0.0000001"), json);
    assertTrue(json.contains("\"huge\":100000000000000000000"), json);
    assertTrue(json.contains("\"float\":0.1,"), json);
    assertTrue(json.contains("\"count\":7,"), json);
    assertTrue(json.contains("\"inf\":null"), json);
    assertTrue(json.contains("\\u0001") && json.contains("\\u2028") && json.contains("\\ud800"), json);
    assertFalse(json.matches("(?s).*[\\x00-\\x1f].*"), "raw control characters in " + json);
    assertFalse(json.contains("E") || json.contains("e-"), json);
    @SuppressWarnings("unchecked")
    Map<String, Object> back = (Map<String, Object>) parse(json).get("extras");
    assertEquals(nasty, back.get("model \"x\""));
    assertEquals(Boolean.TRUE, back.get("flag"));
    assertEquals(new BigDecimal("1E+20"), ((BigDecimal) back.get("huge")).stripTrailingZeros());
  }

  @Test
  void withoutValidationConfusionIsNull() {
    EpochRecord r = new EpochRecord(1, 0.5, Double.NaN, Double.NaN, Double.NaN, null, 3, 10, 0, 2,
        StageTimes.unmeasured(), new TreeMap<>());
    Map<String, Object> m = parse(r.toJson());
    assertTrue(m.containsKey("confusion"));
    assertNull(m.get("confusion"));
    assertNull(m.get("val_auc"));
  }

  @Test
  void metricsByName() {
    SortedMap<String, Object> extras = new TreeMap<>(Map.of("val_f1", 0.5, "model", "abmil"));
    EpochRecord r = record(2, extras);
    assertEquals(0.8125, r.metric("val_auc"));
    assertEquals(0.75, r.metric("val_accuracy"));
    assertEquals(0.4375, r.metric("train_loss"));
    assertTrue(Double.isNaN(r.metric("val_loss")));
    assertEquals(0.5, r.metric("val_f1"));
    var e = assertThrows(IllegalArgumentException.class, () -> r.metric("model"));
    assertTrue(e.getMessage().contains("unknown metric model"), e.getMessage());
  }

  @Test
  void recordsValidate() {
    assertThrows(IllegalArgumentException.class, () -> new EpochRecord(-1, 0, 0, 0, 0, null, 0, 0, 0, 0,
        StageTimes.unmeasured(), new TreeMap<>()));
    assertThrows(IllegalArgumentException.class, () -> new EpochRecord(0, 0, 0, 0, 0, null, 0, -1, 0, 0,
        StageTimes.unmeasured(), new TreeMap<>()));
    assertThrows(IllegalArgumentException.class, () -> record(0, new TreeMap<>(Map.of("x", List.of()))));
    assertThrows(IllegalArgumentException.class, () -> new StageTimes(-1, 0, 0, 0, 0, 0));
  }

  @Test
  void metricsLogAppendsForcedLinesThatParseBack(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("run/metrics.jsonl");
    MetricsLog log = new MetricsLog(file);
    for (int epoch = 0; epoch < 3; epoch++) {
      log.append(record(epoch, new TreeMap<>(Map.of("note", "epoch \"" + epoch + "\"\n"))));
    }
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    assertEquals(3, lines.size());
    for (int epoch = 0; epoch < 3; epoch++) {
      Map<String, Object> m = parse(lines.get(epoch));
      assertEquals(new BigDecimal(epoch), m.get("epoch"));
    }
    assertThrows(IllegalArgumentException.class, () -> log.appendLine("{}\n{}"));
  }

  @Test
  void aLineTornByACrashDoesNotSwallowTheNext(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("metrics.jsonl");
    MetricsLog log = new MetricsLog(file);
    log.append(record(0, new TreeMap<>()));
    Files.writeString(file, "{\"epoch\":1,\"train_lo", StandardOpenOption.APPEND);
    log.append(record(1, new TreeMap<>()));
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    assertEquals(3, lines.size());
    assertEquals(new BigDecimal(0), parse(lines.get(0)).get("epoch"));
    assertThrows(IllegalArgumentException.class, () -> parse(lines.get(1)));
    assertEquals(new BigDecimal(1), parse(lines.get(2)).get("epoch"));
  }
}
