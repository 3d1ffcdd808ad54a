package io.bagpipe.serialization;

/**
 * JSON string literals for the small JSON files Bagpipe writes (run records, fault and quarantine
 * logs, the data digest, safetensors headers). The one escaper every package uses: quotes and
 * backslashes are escaped, control characters, U+2028/9 and lone surrogates written as
 * {@code \}uXXXX, so the text parses back to the same string and survives encoding as UTF-8.
 */
public final class Json {

  private Json() {}

  /** {@code s} as a JSON string literal. */
  public static String quote(String s) {
    return string(new StringBuilder(s.length() + 2), s).toString();
  }

  /** Appends {@code s} as a JSON string literal to {@code b}; returns {@code b}. */
  public static StringBuilder string(StringBuilder b, String s) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        case '\b' -> b.append("\\b");
        case '\f' -> b.append("\\f");
        default -> {
          boolean pairedHigh = Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
          boolean pairedLow = Character.isLowSurrogate(c) && i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
          if (c < 0x20 || c == '\u2028' || c == '\u2029' || Character.isSurrogate(c) && !pairedHigh && !pairedLow) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"');
  }
}
