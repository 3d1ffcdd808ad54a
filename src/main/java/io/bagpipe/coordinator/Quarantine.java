package io.bagpipe.coordinator;

import io.bagpipe.serialization.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Slides whose reads failed, kept in {@code quarantine.jsonl} in the run directory, one
 * JSON line per slide ({@code slide}, {@code epoch}, {@code error}), appended and forced
 * to disk as {@link MetricsLog} does. A quarantined slide is left out of every later
 * epoch's plan, also after a resume, which reads the file back.
 */
public final class Quarantine {

  private static final Pattern SLIDE = Pattern.compile("\"slide\":\"((?:[^\"\\\\]|\\\\.)*)\"");
  private static final Pattern EPOCH = Pattern.compile("\"epoch\":(-?\\d+)");
  private static final Pattern ERROR = Pattern.compile("\"error\":\"((?:[^\"\\\\]|\\\\.)*)\"");

  private final MetricsLog log;

  /** The quarantine of the run whose folder is {@code runDir}. */
  public Quarantine(Path runDir) {
    this.log = new MetricsLog(runDir.resolve("quarantine.jsonl"));
  }

  /** The file. */
  public Path file() {
    return log.file();
  }

  /** A quarantined slide: the epoch it was quarantined in and the error. */
  public record Entry(int epoch, String error) {}

  /** The slides quarantined so far, in the order they were; empty when there is no file. */
  public Map<String, Entry> load() throws IOException {
    Map<String, Entry> slides = new LinkedHashMap<>();
    if (!Files.exists(log.file())) {
      return slides;
    }
    for (String line : Files.readAllLines(log.file())) {
      Matcher s = SLIDE.matcher(line);
      if (s.find()) {
        Matcher e = ERROR.matcher(line);
        Matcher n = EPOCH.matcher(line);
        slides.putIfAbsent(unescape(s.group(1)), new Entry(n.find() ? Integer.parseInt(n.group(1)) : 0,
            e.find() ? unescape(e.group(1)) : ""));
      }
    }
    return slides;
  }

  /** Records {@code slide} as quarantined in {@code epoch} because of {@code error}. */
  public void add(String slide, int epoch, String error) throws IOException {
    StringBuilder b = new StringBuilder("{\"slide\":");
    Json.string(b, slide).append(",\"epoch\":").append(epoch).append(",\"error\":");
    Json.string(b, error).append('}');
    log.appendLine(b.toString());
  }

  private static String unescape(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c != '\\' || i + 1 == s.length()) {
        b.append(c);
        continue;
      }
      char n = s.charAt(++i);
      switch (n) {
        case 'n' -> b.append('\n');
        case 'r' -> b.append('\r');
        case 't' -> b.append('\t');
        case 'b' -> b.append('\b');
        case 'f' -> b.append('\f');
        case 'u' -> {
          b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16));
          i += 4;
        }
        default -> b.append(n);
      }
    }
    return b.toString();
  }
}
