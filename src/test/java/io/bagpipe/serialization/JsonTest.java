package io.bagpipe.serialization;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The one JSON string escaper: what it escapes, and that what it writes survives UTF-8. */
class JsonTest {

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
      "plain            | `\"plain\"`",
      "`say \"hi\"`     | `\"say \\\"hi\\\"\"`",
      "`back\\slash`    | `\"back\\\\slash\"`",
      "`a\nb\rc\td`     | `\"a\\nb\\rc\\td\"`",
      "`\b\f`           | `\"\\b\\f\"`",
      "`\u0001\u001f`   | `\"\\u0001\\u001f\"`",
      "`line\u2028par\u2029` | `\"line\\u2028par\\u2029\"`",
      "`é 🧫`           | `\"é 🧫\"`",
      "`lone\ud800 low\udc00` | `\"lone\\ud800 low\\udc00\"`"})
  void escapesWhatJsonOrUtf8CannotCarryRaw(String in, String want) {
    assertEquals(want, Json.quote(in));
    StringBuilder b = new StringBuilder("x=");
    assertSame(b, Json.string(b, in));
    assertEquals("x=" + want, b.toString());
    // nothing is lost on the way to a file: the written text is valid UTF-8 as it stands
    String out = Json.quote(in);
    assertEquals(out, new String(out.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8));
  }
}
