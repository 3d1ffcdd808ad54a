package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ManifestTest {

  private static final List<String> EXT = List.of("tif", "svs");

  @TempDir Path dir;
  Path slides;

  @BeforeEach
  void slides() throws IOException {
    slides = Files.createDirectories(dir.resolve("slides"));
    for (String f : List.of("a.tif", "b.svs", "b.tif", "c.svs", "d.tif")) {
      Files.writeString(slides.resolve(f), "x");
    }
  }

  private Manifest read(String text) throws IOException {
    Path m = dir.resolve("manifest.csv");
    Files.writeString(m, text);
    return Manifest.read(m, slides, EXT);
  }

  private BagInputException fails(String text) throws IOException {
    Path m = dir.resolve("manifest.csv");
    Files.writeString(m, text);
    BagInputException e = assertThrows(BagInputException.class, () -> Manifest.read(m, slides, EXT));
    assertTrue(e.getMessage().contains("manifest.csv"), e.getMessage());
    assertEquals(m, e.path());
    return e;
  }

  @Test
  void readsRowsInFileOrderAndResolvesExtensionsInOrder() throws IOException {
    Manifest m = read("slide_id,label\nc,1\nb,0\na,2\n");
    assertEquals(List.of("c", "b", "a"), m.slides().stream().map(SlideEntry::slideId).toList());
    assertEquals(List.of(1, 0, 2), m.slides().stream().map(SlideEntry::label).toList());
    assertEquals(slides.resolve("b.tif"), m.slides().get(1).slide(), "tif is tried before svs");
    assertEquals(slides.resolve("c.svs"), m.slides().get(0).slide());
    assertEquals(List.of(2, 3, 4), m.slides().stream().map(SlideEntry::line).toList());
    assertFalse(m.hasFolds());
    assertEquals(OptionalInt.empty(), m.slides().get(0).fold());
  }

  @Test
  void toleratesBomCrlfBlankAndCommentLinesWithoutHeader() throws IOException {
    Path m = dir.resolve("manifest.csv");
    Files.write(m, ("\uFEFFa,0,2\r\n\r\n# comment\r\n b , 1 , 1 \r\n").getBytes(StandardCharsets.UTF_8));
    Manifest manifest = Manifest.read(m, slides, EXT);
    assertEquals(2, manifest.slides().size());
    assertEquals(new SlideEntry("a", 0, OptionalInt.of(2), slides.resolve("a.tif"), 1), manifest.slides().get(0));
    assertEquals(new SlideEntry("b", 1, OptionalInt.of(1), slides.resolve("b.tif"), 4), manifest.slides().get(1));
    assertTrue(manifest.hasFolds());
  }

  @Test
  void headerWithBomIsSkipped() throws IOException {
    assertEquals(1, read("\uFEFFslide_id,label,fold\na,0,1\n").slides().size());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "a,0,1,7|1|4 field",
        "a|1|1 field",
        "a,0\\nb,x|2|label must be an integer",
        "a,-1|1|label must be an integer >= 0",
        "a,1.5|1|'1.5'",
        "a,0,0|1|fold must be an integer >= 1",
        "a,0,z|1|fold",
        "' ,0'|1|empty slide id",
        "../a,0|1|plain file name",
        "a,0\\nb,1\\na,1|3|duplicate slide id 'a' (first listed on line 1)",
        "a,0,1\\nb,1|2|has no fold but line 1 has one",
        "a,0\\nb,1,2|2|has a fold but line 1 has none",
        "x,0|1|no file for slide 'x'",
      })
  void malformedLinesNameFileAndLine(String text, int line, String detail) throws IOException {
    BagInputException e = fails(text.replace("\\n", "\n") + "\n");
    assertEquals(line, e.line());
    assertTrue(e.getMessage().contains("line " + line + ":"), e.getMessage());
    assertTrue(e.getMessage().contains(detail), e.getMessage());
  }

  @Test
  void missingSlideNamesFolderAndExtensionsTried() throws IOException {
    BagInputException e = fails("slide_id,label\na,0\nnope,1\n");
    assertTrue(e.getMessage().contains("line 3"), e.getMessage());
    assertTrue(e.getMessage().contains("'nope'"), e.getMessage());
    assertTrue(e.getMessage().contains(slides.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("tif, svs"), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"''", "slide_id,label", "'# only a comment\\n\\n'"})
  void emptyManifestIsAnError(String text) throws IOException {
    BagInputException e = fails(text.replace("\\n", "\n"));
    assertTrue(e.getMessage().contains("no slides"), e.getMessage());
  }

  @Test
  void missingManifestNamesIt() {
    Path m = dir.resolve("absent.csv");
    BagInputException e = assertThrows(BagInputException.class, () -> Manifest.read(m, slides, EXT));
    assertTrue(e.getMessage().contains("absent.csv"), e.getMessage());
  }
}
