package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataSetTest {

  @TempDir Path dir;

  /** The reference article's layout (svs/, coords/, manifest.csv), as make_slides.py writes it. */
  private Config layout(int slides, boolean folds, String overrides) throws IOException {
    Files.createDirectories(dir.resolve("svs"));
    Files.createDirectories(dir.resolve("coords"));
    StringBuilder m = new StringBuilder(folds ? "slide_id,label,fold\n" : "slide_id,label\n");
    for (int i = 0; i < slides; i++) {
      String id = "slide_" + i;
      m.append(id).append(',').append(i % 2).append(folds ? "," + (1 + i % 5) : "").append('\n');
      Files.writeString(dir.resolve("svs").resolve(id + ".tif"), "not opened");
      Files.writeString(dir.resolve("coords").resolve(id + ".csv"), "x,y\n37,37\n261,37\n" + i + ",0\n");
    }
    Files.writeString(dir.resolve("manifest.csv"), m);
    return SettingsTest.config("bagpipe.data.dir = \"" + dir + "\"\n" + overrides);
  }

  private static DataSet load(Config c) {
    return DataSet.load(DataSettings.fromConfig(c.getConfig("bagpipe.data")),
        FoldSettings.fromConfig(c.getConfig("bagpipe.plan.folds")));
  }

  @Test
  void splitsByStratifiedFoldsAndReadsCoordinatesOfUsedSlidesOnly() throws IOException {
    DataSet d = load(layout(20, false, "bagpipe.plan.folds { train = \"123\", val = \"4\" }"));
    assertEquals(20, d.manifest().slides().size());
    assertEquals(12, d.train().size());
    assertEquals(4, d.validation().size());
    Set<String> used = new HashSet<>();
    d.train().forEach(s -> used.add(s.slideId()));
    d.validation().forEach(s -> used.add(s.slideId()));
    assertEquals(16, used.size());
    assertEquals(used, d.coordinates().keySet());
    assertEquals(dir.resolve("svs").resolve(d.train().getFirst().slideId() + ".tif"), d.train().getFirst().slide());
    assertEquals(3, d.coordinates().get("slide_7").size());
    assertEquals(7, d.coordinates().get("slide_7").x(2));
    d.train().forEach(s -> assertTrue(List.of(1, 2, 3).contains(d.folds().foldOf(s.slideId()))));
  }

  @Test
  void usesTheManifestFolds() throws IOException {
    DataSet d = load(layout(10, true, ""));
    assertEquals(List.of("slide_4", "slide_9"), d.validation().stream().map(SlideEntry::slideId).toList());
    assertEquals(8, d.train().size());
  }

  @Test
  void missingCoordinateFileNamesPathSlideAndManifestLine() throws IOException {
    Config c = layout(6, false, "bagpipe.plan.folds { train = \"12345\", val = \"\" }");
    Path csv = dir.resolve("coords").resolve("slide_3.csv");
    Files.delete(csv);
    BagInputException e = assertThrows(BagInputException.class, () -> load(c));
    assertEquals(csv, e.path());
    assertTrue(e.getMessage().contains(csv.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("'slide_3'"), e.getMessage());
    assertTrue(e.getMessage().contains("manifest.csv line 5"), e.getMessage());
  }
}
