package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jhdf.HdfFile;
import io.jhdf.WritableHdfFile;
import io.jhdf.api.WritableDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CLAM and TRIDENT patch files, written with jhdf's writer the way those tools lay them out. */
class H5CoordinatesTest {

  @TempDir Path dir;

  /** CLAM's save_hdf5: int64 coords with patch_size at patch_level and the level's downsample. */
  static Path clam(Path file, long[][] coords, int patchSize, int patchLevel, double downsample) {
    try (WritableHdfFile h5 = HdfFile.write(file)) {
      WritableDataset d = h5.putDataset("coords", coords);
      d.putAttribute("patch_size", (long) patchSize);
      d.putAttribute("patch_level", (long) patchLevel);
      d.putAttribute("downsample", new double[] {downsample, downsample});
      d.putAttribute("level_dim", new long[] {40000, 30000});
      d.putAttribute("name", "slide");
    }
    return file;
  }

  /** TRIDENT: coords with patch_size (at the target magnification) and patch_size_level0. */
  static Path trident(Path file, int[][] coords, int patchSize, int patchSizeLevel0) {
    try (WritableHdfFile h5 = HdfFile.write(file)) {
      WritableDataset d = h5.putDataset("coords", coords);
      d.putAttribute("patch_size", patchSize);
      d.putAttribute("patch_size_level0", patchSizeLevel0);
      d.putAttribute("target_magnification", 20);
      d.putAttribute("level0_magnification", 40);
    }
    return file;
  }

  @Test
  void readsClamCoordinatesAndDerivesTheLevel0PatchSize() {
    long[][] coords = new long[120_000][];
    for (int i = 0; i < coords.length; i++) {
      coords[i] = new long[] {(i % 300) * 256L, (i / 300) * 256L};
    }
    H5Coordinates c = H5Coordinates.read(clam(dir.resolve("a.h5"), coords, 256, 1, 4.0));
    assertEquals(120_000, c.coordinates().size());
    assertEquals(299 * 256, c.coordinates().x(299));
    assertEquals(256, c.coordinates().y(300));
    assertEquals(OptionalInt.of(256), c.patchSize());
    assertEquals(OptionalInt.of(1), c.patchLevel());
    assertEquals(OptionalInt.of(1024), c.patchSizeLevel0());
    H5Coordinates level0 = H5Coordinates.read(clam(dir.resolve("b.h5"), new long[][] {{1, 2}}, 224, 0, 1.0));
    assertEquals(OptionalInt.of(224), level0.patchSizeLevel0());
  }

  @Test
  void readsTridentCoordinates() {
    H5Coordinates c = H5Coordinates.read(trident(dir.resolve("t.h5"), new int[][] {{10, 20}, {30, 40}}, 256, 512));
    assertEquals(PatchCoordinates.of(10, 20, 30, 40), c.coordinates());
    assertEquals(OptionalInt.of(512), c.patchSizeLevel0());
    assertEquals(OptionalInt.empty(), c.patchLevel());
  }

  @Test
  void aFileWithoutCoordsNamesTheFile() {
    Path file = dir.resolve("features.h5");
    try (WritableHdfFile h5 = HdfFile.write(file)) {
      h5.putDataset("features", new float[][] {{1f, 2f}});
    }
    BagInputException e = assertThrows(BagInputException.class, () -> H5Coordinates.read(file));
    assertEquals(file, e.path());
    assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("no dataset 'coords'"), e.getMessage());
    assertTrue(e.getMessage().contains("features"), e.getMessage());
  }

  @Test
  void badShapesValuesAndFilesAreNamed() throws IOException {
    Path wide = dir.resolve("wide.h5");
    try (WritableHdfFile h5 = HdfFile.write(wide)) {
      h5.putDataset("coords", new int[][] {{1, 2, 3}});
    }
    assertTrue(assertThrows(BagInputException.class, () -> H5Coordinates.read(wide)).getMessage()
        .contains("must be N x 2"));
    Path negative = trident(dir.resolve("neg.h5"), new int[][] {{1, 2}, {3, -4}}, 256, 256);
    BagInputException e = assertThrows(BagInputException.class, () -> H5Coordinates.read(negative));
    assertEquals(2, e.line());
    Path text = Files.writeString(dir.resolve("text.h5"), "not hdf5");
    assertTrue(assertThrows(BagInputException.class, () -> H5Coordinates.read(text)).getMessage()
        .contains("cannot read as HDF5"));
  }

  @Test
  void aPatchOutsideTheSlideNamesItsRow() {
    Path file = trident(dir.resolve("s.h5"), new int[][] {{0, 0}, {900, 0}}, 224, 224);
    BagInputException e = assertThrows(BagInputException.class,
        () -> H5Coordinates.read(file, 224, new Extent(1000, 1000)));
    assertEquals(2, e.line());
    assertTrue(e.getMessage().contains("lies outside slide 's'"), e.getMessage());
  }
}
