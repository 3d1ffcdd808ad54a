package io.bagpipe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Each package knows nothing of what docs/design.md's package table says it knows
 * nothing of: no import, no fully qualified name. Comments are not code and are left out.
 */
class RoomsTest {

  private static final Path SOURCES = Path.of("src/main/java/io/bagpipe");

  /** Package -> name prefixes its code must not mention. */
  private static final Map<String, List<String>> KNOWS_NOTHING_OF = Map.ofEntries(
      Map.entry("slide", List.of("org.apache.pekko", "ai.djl", "io.bagpipe.bag", "io.bagpipe.loader", "io.bagpipe.worker",
          "io.bagpipe.coordinator", "io.bagpipe.api", "io.bagpipe.cli")),
      Map.entry("bag", List.of("org.apache.pekko", "ai.djl", "io.bagpipe.slide")),
      Map.entry("loader", List.of("ai.djl", "io.bagpipe.model", "io.bagpipe.worker", "io.bagpipe.coordinator",
          "org.apache.pekko.cluster")),
      Map.entry("worker", List.of("io.bagpipe.coordinator", "org.apache.pekko.cluster", "io.bagpipe.slide")),
      Map.entry("allreduce", List.of("org.apache.pekko", "ai.djl", "io.bagpipe.model", "io.bagpipe.slide")),
      Map.entry("coordinator", List.of("ai.djl", "io.bagpipe.loader", "io.bagpipe.model", "io.bagpipe.allreduce")),
      Map.entry("model", List.of("org.apache.pekko", "io.bagpipe.slide", "io.bagpipe.bag")),
      Map.entry("checkpoint", List.of("org.apache.pekko", "ai.djl")),
      Map.entry("serialization", List.of("io.bagpipe.slide", "io.bagpipe.bag", "io.bagpipe.loader", "io.bagpipe.worker",
          "io.bagpipe.allreduce", "io.bagpipe.coordinator", "io.bagpipe.model", "io.bagpipe.checkpoint",
          "io.bagpipe.api", "io.bagpipe.cli")),
      Map.entry("api", List.of("io.bagpipe.cli")),
      Map.entry("export", List.of("org.apache.pekko", "ai.djl", "io.bagpipe.slide", "io.bagpipe.bag",
          "io.bagpipe.model", "io.bagpipe.worker", "io.bagpipe.coordinator")),
      Map.entry("report", List.of("org.apache.pekko", "ai.djl", "io.bagpipe.slide", "io.bagpipe.model",
          "io.bagpipe.worker", "io.bagpipe.checkpoint", "io.bagpipe.api")),
      Map.entry("predict", List.of("org.apache.pekko", "io.bagpipe.worker", "io.bagpipe.allreduce", "io.bagpipe.api",
          "io.bagpipe.cli")),
      Map.entry("features", List.of("org.apache.pekko", "ai.djl", "io.bagpipe.slide", "io.bagpipe.bag",
          "io.bagpipe.loader", "io.bagpipe.model", "io.bagpipe.worker", "io.bagpipe.coordinator", "io.bagpipe.api")),
      Map.entry("metrics", List.of("org.apache.pekko", "ai.djl", "io.bagpipe.slide", "io.bagpipe.bag",
          "io.bagpipe.model", "io.bagpipe.allreduce", "io.bagpipe.coordinator", "io.bagpipe.checkpoint",
          "io.bagpipe.api", "io.bagpipe.cli")));

  private static final Pattern NAME = Pattern.compile("\\b(?:org\\.apache\\.pekko|ai\\.djl|io\\.bagpipe)(?:\\.\\w+)+");

  @Test
  void noPackageMentionsWhatItMustKnowNothingOf() throws IOException {
    List<String> breaches = new ArrayList<>();
    for (var e : KNOWS_NOTHING_OF.entrySet()) {
      try (Stream<Path> files = Files.walk(SOURCES.resolve(e.getKey()))) {
        for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
          String code = withoutComments(Files.readString(f));
          Matcher m = NAME.matcher(code);
          while (m.find()) {
            for (String banned : e.getValue()) {
              if (m.group().equals(banned) || m.group().startsWith(banned + ".")) {
                breaches.add(SOURCES.relativize(f) + " mentions " + m.group());
              }
            }
          }
        }
      }
    }
    assertEquals(List.of(), breaches);
  }

  @Test
  void theCheckSeesAnImportAndANameButNotAComment() {
    String code = withoutComments("import io.bagpipe.coordinator.Coordinator;\n// io.bagpipe.cli.Main\n"
        + "/** {@link io.bagpipe.api.Bagpipe} */ var x = io.bagpipe.slide.Slide.class;");
    List<String> names = NAME.matcher(code).results().map(java.util.regex.MatchResult::group).toList();
    assertEquals(List.of("io.bagpipe.coordinator.Coordinator", "io.bagpipe.slide.Slide.class"), names);
    assertTrue(withoutComments("\"// not a comment\"").contains("not a comment"));
  }

  /** {@code code} with its line and block comments blanked, string literals kept. */
  static String withoutComments(String code) {
    StringBuilder out = new StringBuilder(code.length());
    int i = 0;
    while (i < code.length()) {
      char c = code.charAt(i);
      if (c == '"' || c == '\'') {
        int j = i + 1;
        while (j < code.length() && code.charAt(j) != c) {
          j += code.charAt(j) == '\\' ? 2 : 1;
        }
        out.append(code, i, Math.min(j + 1, code.length()));
        i = j + 1;
      } else if (code.startsWith("//", i)) {
        int j = code.indexOf('\n', i);
        i = j < 0 ? code.length() : j;
      } else if (code.startsWith("/*", i)) {
        int j = code.indexOf("*/", i + 2);
        i = j < 0 ? code.length() : j + 2;
        out.append(' ');
      } else {
        out.append(c);
        i++;
      }
    }
    return out.toString();
  }
}
