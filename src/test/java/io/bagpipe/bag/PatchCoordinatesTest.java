package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class PatchCoordinatesTest {

  @TempDir Path dir;

  private Path write(String text) throws IOException {
    Path csv = dir.resolve("slide-7.csv");
    Files.write(csv, text.getBytes(StandardCharsets.UTF_8));
    return csv;
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "x,y\n0,0\n224,37\n5000,100000\n",
      "0,0\n224,37\n5000,100000",
      "\uFEFFx,y\r\n0,0\r\n\r\n# note\r\n 224 , 37 \r\n5000,100000\r\n",
      "\uFEFF0,0\r\n224,\t37\r\n5000,100000\r\n",
  })
  void parsesWithOrWithoutHeaderBomCrlf(String text) throws IOException {
    PatchCoordinates c = PatchCoordinates.read(write(text));
    assertArrayEquals(new int[] {0, 0, 224, 37, 5000, 100000}, c.toArray());
    assertEquals(3, c.size());
    assertEquals(224, c.x(1));
    assertEquals(37, c.y(1));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "x,y\\n0,0\\n1;2|3",
        "0,0\\n1,2,3|2",
        "0,0\\n\\n-4,2|3",
        "0,0\\nx,y|2",
        "0,0\\n12345678901,2|2",
        "0,0\\n1,|2",
        "0,0\\n1 2|2",
        "0,0\\n1.5,2|2",
      })
  void malformedLineNamesFileAndLine(String text, int line) throws IOException {
    BagInputException e =
        assertThrows(BagInputException.class, () -> PatchCoordinates.read(write(text.replace("\\n", "\n"))));
    assertEquals(line, e.line());
    assertTrue(e.getMessage().contains("slide-7.csv line " + line + ":"), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource({"0,0", "800,0", "0,376", "777,375"})
  void patchesInsideTheExtentPass(int x, int y) throws IOException {
    assertEquals(1, PatchCoordinates.read(write(x + "," + y), 224, new Extent(1024, 600)).size());
  }

  @ParameterizedTest
  @CsvSource({"801,0", "0,377", "5000,5000"})
  void patchOutsideTheExtentNamesFileLineAndSlideSize(int x, int y) throws IOException {
    Path csv = write("x,y\n0,0\n" + x + "," + y + "\n");
    BagInputException e =
        assertThrows(BagInputException.class, () -> PatchCoordinates.read(csv, 224, new Extent(1024, 600)));
    assertTrue(e.getMessage().contains("slide-7.csv line 3:"), e.getMessage());
    assertTrue(e.getMessage().contains("1024 x 600"), e.getMessage());
    assertTrue(e.getMessage().contains("(" + x + ", " + y + ")"), e.getMessage());
  }

  @Test
  void missingFileNamesPathAndSlide() {
    Path csv = dir.resolve("gone.csv");
    BagInputException e = assertThrows(BagInputException.class, () -> PatchCoordinates.read(csv));
    assertTrue(e.getMessage().contains(csv.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("'gone'"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "x,y\n", "x,y\n\n# none\n"})
  void fileWithoutPatchesIsAnError(String text) throws IOException {
    BagInputException e = assertThrows(BagInputException.class, () -> PatchCoordinates.read(write(text)));
    assertTrue(e.getMessage().contains("slide-7.csv"), e.getMessage());
    assertTrue(e.getMessage().contains("no patches"), e.getMessage());
  }

  @Test
  void parsesAHundredThousandLines() throws IOException {
    int n = 100_000;
    StringBuilder sb = new StringBuilder("x,y\n");
    for (int i = 0; i < n; i++) {
      sb.append(37 + 224 * (i % 500)).append(',').append(37 + 224 * (i / 500)).append('\n');
    }
    Path csv = write(sb.toString());
    PatchCoordinates c = PatchCoordinates.read(csv, 224, new Extent(200_000, 200_000));
    assertEquals(n, c.size());
    assertEquals(37, c.x(0));
    assertEquals(37 + 224 * 499, c.x(n - 1));
    assertEquals(37 + 224 * 199, c.y(n - 1));
  }
}
