package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Data sets split by the manifest's split column, with CLAM / TRIDENT coordinate files. */
class DataSetSplitTest {

  @TempDir Path dir;

  private Config layout(String overrides) throws IOException {
    Files.createDirectories(dir.resolve("slides"));
    Files.createDirectories(dir.resolve("coords"));
    StringBuilder m = new StringBuilder("slide_id,case_id,label,split\n");
    String[] splits = {"train", "train", "train", "val", "test", "test"};
    for (int i = 0; i < splits.length; i++) {
      String id = "s" + i;
      m.append(id).append(",p").append(i).append(',').append(i % 2 == 0 ? "tumor" : "normal").append(',')
          .append(splits[i]).append('\n');
      Files.writeString(dir.resolve("slides").resolve(id + ".tif"), "not opened");
      if (i % 2 == 0) {
        Files.writeString(dir.resolve("coords").resolve(id + ".csv"), "x,y\n1,2\n");
      } else {
        H5CoordinatesTest.trident(dir.resolve("coords").resolve(id + ".h5"), new int[][] {{5, 6}, {7, 8}}, 224, 224);
      }
    }
    Files.writeString(dir.resolve("manifest.csv"), m);
    return SettingsTest.config("bagpipe.data.dir = \"" + dir + "\"\n" + overrides);
  }

  private static DataSet load(Config c, int patchSize) {
    return DataSet.load(DataSettings.fromConfig(c.getConfig("bagpipe.data")),
        FoldSettings.fromConfig(c.getConfig("bagpipe.plan.folds")), patchSize);
  }

  @Test
  void theSplitColumnDecidesTrainValAndTestAndH5FilesAreFound() throws IOException {
    DataSet d = load(layout(""), 224);
    assertEquals(List.of("s0", "s1", "s2"), d.train().stream().map(SlideEntry::slideId).toList());
    assertEquals(List.of("s3"), d.validation().stream().map(SlideEntry::slideId).toList());
    assertEquals(List.of("s4", "s5"), d.test().stream().map(SlideEntry::slideId).toList());
    assertEquals(PatchCoordinates.of(5, 6, 7, 8), d.coordinates().get("s5"));
    assertEquals(dir.resolve("coords/s5.h5"), d.coordinateFiles().get("s5"));
    assertEquals(dir.resolve("coords/s4.csv"), d.coordinateFiles().get("s4"));
    assertEquals(OptionalInt.of(224), d.patchSizeLevel0("s1"));
    assertEquals(List.of("normal", "tumor"), d.classes().names());
  }

  @Test
  void anH5PatchSizeOtherThanTheRunsIsAnErrorNamingFileAndKey() throws IOException {
    Config c = layout("");
    BagInputException e = assertThrows(BagInputException.class, () -> load(c, 256));
    assertEquals(dir.resolve("coords/s1.h5"), e.path());
    assertTrue(e.getMessage().contains("bagpipe.plan.patch-size = 224"), e.getMessage());
  }

  @Test
  void coordsFormatCsvIgnoresH5Files() throws IOException {
    Config c = layout("bagpipe.data.coords-format = csv");
    BagInputException e = assertThrows(BagInputException.class, () -> load(c, 0));
    assertEquals(dir.resolve("coords/s1.csv"), e.path());
    assertTrue(e.getMessage().contains("bagpipe.data.coords-format"), e.getMessage());
    ConfigException bad = assertThrows(ConfigException.class,
        () -> DataSettings.fromConfig(layout("bagpipe.data.coords-format = hdf").getConfig("bagpipe.data")));
    assertTrue(bad.getMessage().contains("bagpipe.data.coords-format"), bad.getMessage());
  }

  @Test
  void theClassListFromConfigFixesTheOrder() throws IOException {
    DataSet d = load(layout("bagpipe.data.classes = [tumor, normal]"), 0);
    assertEquals(0, d.train().getFirst().label());
    ConfigException bad = assertThrows(ConfigException.class,
        () -> DataSettings.fromConfig(layout("bagpipe.data.classes = [a, a]").getConfig("bagpipe.data")));
    assertTrue(bad.getMessage().contains("bagpipe.data.classes"), bad.getMessage());
  }
}
