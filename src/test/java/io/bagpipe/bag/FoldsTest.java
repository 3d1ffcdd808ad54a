package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class FoldsTest {

  private static final Path MANIFEST = Path.of("data/manifest.csv");

  static Manifest manifest(int[] perClass, boolean folds) {
    List<SlideEntry> rows = new ArrayList<>();
    for (int label = 0; label < perClass.length; label++) {
      for (int i = 0; i < perClass[label]; i++) {
        String id = "c" + label + "-s" + i;
        OptionalInt fold = folds ? OptionalInt.of(1 + rows.size() % 3) : OptionalInt.empty();
        rows.add(new SlideEntry(id, label, fold, Path.of(id + ".tif"), rows.size() + 2));
      }
    }
    return new Manifest(MANIFEST, rows);
  }

  @ParameterizedTest(name = "classes {0} k={1}")
  @CsvSource({"'10,10',5", "'7,3',5", "'1,2',5", "'23,11,4',5", "'100,37',10", "'5',1", "'13,13',3", "'0,9',4"})
  void eachClassIsCutIntoKNearlyEqualParts(String sizes, int k) {
    int[] perClass = java.util.Arrays.stream(sizes.split(",")).mapToInt(Integer::parseInt).toArray();
    Manifest m = manifest(perClass, false);
    Folds folds = Folds.assign(m, k, 42);
    for (int label = 0; label < perClass.length; label++) {
      int[] count = new int[k + 1];
      for (SlideEntry s : m.slides()) {
        if (s.label() == label) {
          int f = folds.foldOf(s.slideId());
          assertTrue(f >= 1 && f <= k, "fold " + f);
          count[f]++;
        }
      }
      int[] parts = java.util.Arrays.copyOfRange(count, 1, k + 1);
      int min = IntStream.of(parts).min().orElseThrow();
      int max = IntStream.of(parts).max().orElseThrow();
      assertTrue(max - min <= 1, "class " + label + " parts " + java.util.Arrays.toString(parts));
      assertEquals(perClass[label], IntStream.of(parts).sum());
    }
  }

  @Test
  void deterministicUnderASeedAndIndependentOfRowOrder() {
    Manifest m = manifest(new int[] {20, 15}, false);
    List<SlideEntry> reversed = new ArrayList<>(m.slides());
    Collections.reverse(reversed);
    Manifest r = new Manifest(MANIFEST, reversed);
    assertEquals(assignment(Folds.assign(m, 5, 7), m), assignment(Folds.assign(r, 5, 7), m));
    assertEquals(assignment(Folds.assign(m, 5, 7), m), assignment(Folds.assign(manifest(new int[] {20, 15}, false), 5, 7), m));
    assertNotEquals(assignment(Folds.assign(m, 5, 7), m), assignment(Folds.assign(m, 5, 8), m));
  }

  private static Map<String, Integer> assignment(Folds f, Manifest m) {
    Map<String, Integer> out = new TreeMap<>();
    m.slides().forEach(s -> out.put(s.slideId(), f.foldOf(s.slideId())));
    return out;
  }

  @Test
  void manifestFoldColumnIsUsedAsItIs() {
    Manifest m = manifest(new int[] {4, 5}, true);
    Folds folds = Folds.assign(m, 3, 99);
    for (SlideEntry s : m.slides()) {
      assertEquals(s.fold().getAsInt(), folds.foldOf(s.slideId()));
    }
    assertEquals(List.of("c0-s0", "c0-s3", "c1-s2"),
        folds.slidesIn(List.of(1)).stream().map(SlideEntry::slideId).toList());
  }

  @Test
  void manifestFoldAboveKNamesFileAndLine() {
    Manifest m = manifest(new int[] {4, 5}, true);
    BagInputException e = assertThrows(BagInputException.class, () -> Folds.assign(m, 2, 0));
    assertTrue(e.getMessage().contains("manifest.csv line 4:"), e.getMessage());
    assertTrue(e.getMessage().contains("bagpipe.plan.folds.k"), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {"1234|5|5|1,2,3,4|5", "1,2,3,4|5|5|1,2,3,4|5", "1, 3|''|3|1,3|", "12|11,10|12|12|10,11", "1,2,3,4,5,6,7,8,9|10|10|1,2,3,4,5,6,7,8,9|10"})
  void parsesSplits(String train, String val, int k, String wantTrain, String wantVal) {
    FoldSplit s = FoldSplit.parse("t", train, "v", val, k);
    assertEquals(ints(wantTrain), s.train());
    assertEquals(ints(wantVal), s.validation());
    assertTrue(s.trains(s.train().getFirst()));
  }

  private static List<Integer> ints(String csv) {
    return csv == null ? List.of() : java.util.Arrays.stream(csv.split(",")).map(Integer::valueOf).toList();
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "1234|4|5|bagpipe.plan.folds.val|also in",
        "1236|5|5|bagpipe.plan.folds.train|fold 6",
        "1234|0|5|bagpipe.plan.folds.val|fold 0",
        "1224|5|5|bagpipe.plan.folds.train|repeated",
        "1a|5|5|bagpipe.plan.folds.train|'a'",
        "''|5|5|bagpipe.plan.folds.train|at least one",
        "1,,2|5|5|bagpipe.plan.folds.train|''",
        "12|3|10|bagpipe.plan.folds.train|fold 12",
      })
  void badSplitsNameTheKey(String train, String val, int k, String key, String detail) {
    ConfigException e = assertThrows(ConfigException.class,
        () -> FoldSplit.parse("bagpipe.plan.folds.train", train, "bagpipe.plan.folds.val", val, k));
    assertTrue(e.getMessage().contains(key), e.getMessage());
    assertTrue(e.getMessage().contains(detail), e.getMessage());
  }
}
