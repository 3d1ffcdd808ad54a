package io.bagpipe.metrics;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.TreeMap;

/**
 * One scrape of a Prometheus endpoint, parsed from the text exposition format
 * (version 0.0.4): every sample with its name, labels and value. Comment and
 * blank lines are skipped; a line that is not a sample fails the parse, naming
 * its number.
 */
public final class Scrape {

  /** One sample: {@code name{labels} value}. */
  public record Sample(String name, Map<String, String> labels, double value) {}

  private final List<Sample> samples;

  private Scrape(List<Sample> samples) {
    this.samples = Collections.unmodifiableList(samples);
  }

  /** GETs {@code url} and parses the answer; fails on a status other than 200. */
  public static Scrape fetch(URI url, Duration timeout) throws IOException, InterruptedException {
    HttpClient client = HttpClient.newBuilder().connectTimeout(timeout).build();
    try (client) {
      HttpResponse<String> r = client.send(HttpRequest.newBuilder(url).timeout(timeout).GET().build(),
          HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new IOException(url + " answered HTTP " + r.statusCode());
      }
      return parse(r.body());
    }
  }

  /** Parses a text-format exposition. */
  public static Scrape parse(String text) {
    List<Sample> out = new ArrayList<>();
    String[] lines = text.split("\n");
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      try {
        out.add(sample(line));
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("metrics line " + (i + 1) + " is not a sample (" + e.getMessage() + "): "
            + line, e);
      }
    }
    return new Scrape(out);
  }

  /** Every sample, in the order of the exposition. */
  public List<Sample> samples() {
    return samples;
  }

  /** The samples named {@code name}. */
  public List<Sample> all(String name) {
    return samples.stream().filter(s -> s.name().equals(name)).toList();
  }

  /** The value of the first sample named {@code name} whose labels include {@code labels} (key, value, ...). */
  public OptionalDouble value(String name, String... labels) {
    for (Sample s : samples) {
      if (s.name().equals(name) && has(s, labels)) {
        return OptionalDouble.of(s.value());
      }
    }
    return OptionalDouble.empty();
  }

  /** The sum of the samples named {@code name} whose labels include {@code labels}; 0 when none. */
  public double sum(String name, String... labels) {
    double t = 0;
    for (Sample s : samples) {
      if (s.name().equals(name) && has(s, labels)) {
        t += s.value();
      }
    }
    return t;
  }

  private static boolean has(Sample s, String[] labels) {
    for (int i = 0; i + 1 < labels.length; i += 2) {
      if (!labels[i + 1].equals(s.labels().get(labels[i]))) {
        return false;
      }
    }
    return true;
  }

  private static Sample sample(String line) {
    int brace = line.indexOf('{');
    int space = line.indexOf(' ');
    Map<String, String> labels = new TreeMap<>();
    String name;
    int rest;
    if (brace >= 0 && (space < 0 || brace < space)) {
      name = line.substring(0, brace);
      int i = brace + 1;
      while (line.charAt(i) != '}') {
        int eq = line.indexOf('=', i);
        String key = line.substring(i, eq).strip();
        if (line.charAt(eq + 1) != '"') {
          throw new IllegalArgumentException("label " + key + " has no quoted value");
        }
        StringBuilder v = new StringBuilder();
        int j = eq + 2;
        for (; line.charAt(j) != '"'; j++) {
          char c = line.charAt(j);
          if (c == '\\') {
            char n = line.charAt(++j);
            v.append(n == 'n' ? '\n' : n);
          } else {
            v.append(c);
          }
        }
        labels.put(key, v.toString());
        i = j + 1;
        if (line.charAt(i) == ',') {
          i++;
        }
      }
      rest = i + 1;
    } else {
      name = line.substring(0, space);
      rest = space;
    }
    if (name.isEmpty()) {
      throw new IllegalArgumentException("no metric name");
    }
    String[] fields = line.substring(rest).strip().split("\\s+");
    return new Sample(name, Collections.unmodifiableMap(labels), number(fields[0]));
  }

  private static double number(String s) {
    return switch (s) {
      case "NaN" -> Double.NaN;
      case "+Inf", "Inf" -> Double.POSITIVE_INFINITY;
      case "-Inf" -> Double.NEGATIVE_INFINITY;
      default -> Double.parseDouble(s);
    };
  }
}
