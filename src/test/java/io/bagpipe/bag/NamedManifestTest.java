package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The manifest with named columns: class names, cases, folds and splits. */
class NamedManifestTest {

  private static final List<String> EXT = List.of("tif");

  @TempDir Path dir;
  Path slides;
  Path manifest;

  @BeforeEach
  void slides() throws IOException {
    slides = Files.createDirectories(dir.resolve("slides"));
    for (int i = 0; i < 40; i++) {
      Files.writeString(slides.resolve("s" + i + ".tif"), "x");
    }
    manifest = dir.resolve("manifest.csv");
  }

  private Manifest read(String text, List<String> classes) throws IOException {
    Files.writeString(manifest, text);
    return Manifest.read(manifest, slides, EXT, classes);
  }

  private BagInputException fails(String text, List<String> classes) throws IOException {
    Files.writeString(manifest, text);
    BagInputException e = assertThrows(BagInputException.class, () -> Manifest.read(manifest, slides, EXT, classes));
    assertEquals(manifest, e.path());
    assertTrue(e.getMessage().startsWith(manifest.toString()), e.getMessage());
    return e;
  }

  @Test
  void columnsInAnyOrderWithClassNamesInSortedOrder() throws IOException {
    Manifest m = read("split,extra,label,case_id,slide_id\ntrain,zz,tumor,p1,s0\nval,zz,normal,p2,s1\n"
        + "test,zz,tumor,p3,s2\ntrain,zz,normal,p1,s3\n", List.of());
    assertEquals(List.of("normal", "tumor"), m.classes().names());
    assertTrue(m.classes().named());
    assertEquals(List.of(1, 0, 1, 0), m.slides().stream().map(SlideEntry::label).toList());
    assertEquals(List.of("p1", "p2", "p3", "p1"), m.slides().stream().map(SlideEntry::caseId).toList());
    assertEquals(Optional.of(Split.TEST), m.slides().get(2).split());
    assertTrue(m.hasSplits());
    assertFalse(m.hasFolds());
    assertEquals(2, m.slides().getFirst().line());
  }

  @Test
  void anExplicitClassListFixesTheOrder() throws IOException {
    Manifest m = read("slide_id,label\ns0,normal\ns1,tumor\n", List.of("tumor", "normal"));
    assertEquals(List.of(1, 0), m.slides().stream().map(SlideEntry::label).toList());
    assertEquals("{\"named\":true,\"classes\":[\"tumor\",\"normal\"]}", m.classes().toJson());
  }

  @Test
  void integerLabelsKeepTheirIndicesAndCaseDefaultsToTheSlide() throws IOException {
    Manifest m = read("label,slide_id,fold\n2,s0,1\n0,s1,2\n", List.of());
    assertFalse(m.classes().named());
    assertEquals(List.of("0", "1", "2"), m.classes().names());
    assertEquals("s0", m.slides().getFirst().caseId());
    assertEquals(Optional.empty(), m.slides().getFirst().split());
    assertTrue(m.hasFolds());
  }

  @Test
  void aHeadlessManifestWithANameInTheFirstRowKeepsThatRow() throws IOException {
    Manifest m = read("s0,tumor\ns1,normal\n", List.of());
    assertEquals(2, m.slides().size());
    assertEquals(List.of(1, 0), m.slides().stream().map(SlideEntry::label).toList());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      // a label not in the explicit class map
      "slide_id,label\\ns0,normal\\ns1,Tumour|3|label 'Tumour' of slide 's1' is not in the class map bagpipe.data.classes = [normal, tumor]",
      // an unknown split value
      "slide_id,label,split\\ns0,tumor,train\\ns1,normal,holdout|3|split of slide 's1' must be train, val or test, got 'holdout'",
      // a case in two splits
      "slide_id,label,case_id,split\\ns0,tumor,p1,train\\ns1,normal,p2,val\\ns2,normal,p1,test|4|case 'p1' is in split test here (slide 's2') but in split train on line 2",
      // a case in two folds
      "slide_id,case_id,label,fold\\ns0,p1,tumor,1\\ns1,p1,normal,2|3|case 'p1' is in fold 2 here (slide 's1') but in fold 1 on line 2",
      "slide_id,case_id,label\\ns0,p1,tumor\\ns1,,normal|3|empty case_id of slide 's1'",
      "slide_id,fold\\ns0,1|1|the header names no 'label' column",
      "slide_id,label,label\\ns0,1,1|1|column 'label' is named twice",
      "slide_id,label,split\\ns0,tumor|2|expected at least 3 fields",
  })
  void badRowsNameTheManifestAndLine(String text, int line, String detail) throws IOException {
    BagInputException e = fails(text.replace("\\n", "\n") + "\n",
        text.contains("Tumour") ? List.of("normal", "tumor") : List.of());
    assertEquals(line, e.line(), e.getMessage());
    assertTrue(e.getMessage().contains(detail), e.getMessage());
  }

  @Test
  void mixingNamesAndIntegersIsAnError() throws IOException {
    BagInputException e = fails("slide_id,label\ns0,tumor\ns1,1\n", List.of());
    assertEquals(3, e.line());
    assertTrue(e.getMessage().contains("label must be a class name"), e.getMessage());
  }

  @Test
  void automaticFoldsKeepEveryCaseInOneFold() throws IOException {
    StringBuilder text = new StringBuilder("slide_id,label,case_id\n");
    for (int i = 0; i < 40; i++) {
      text.append("s").append(i).append(',').append(i % 3 == 0 ? "tumor" : "normal").append(",p").append(i / 4)
          .append('\n');
    }
    Manifest m = read(text.toString(), List.of());
    Folds folds = Folds.assign(m, 5, 7);
    Map<String, Integer> foldOfCase = new HashMap<>();
    Map<Integer, Integer> slidesPerFold = new HashMap<>();
    for (SlideEntry s : m.slides()) {
      int f = folds.foldOf(s.slideId());
      Integer before = foldOfCase.putIfAbsent(s.caseId(), f);
      assertTrue(before == null || before == f, "case " + s.caseId() + " is split over folds " + before + " and " + f);
      slidesPerFold.merge(f, 1, Integer::sum);
    }
    assertEquals(10, foldOfCase.size());
    assertEquals(5, slidesPerFold.size(), "10 cases spread over all 5 folds: " + slidesPerFold);
  }
}
