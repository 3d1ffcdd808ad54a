package io.bagpipe.bag;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A data set ready for planning: the manifest, each slide's fold, the training and
 * validation slides of the configured split, and the patch coordinates of those
 * slides. Loading reads the manifest and the coordinate CSVs of the training and
 * validation slides (slides in neither split are not read); it checks that slide
 * files exist but opens none, so coordinates are not checked against slide extents
 * here (a caller holding an open slide may re-read with
 * {@link PatchCoordinates#read(Path, int, Extent)}). Problems are
 * {@link BagInputException}s naming file and line.
 */
public final class DataSet {

  private final Manifest manifest;
  private final Folds folds;
  private final List<SlideEntry> train;
  private final List<SlideEntry> validation;
  private final Map<String, PatchCoordinates> coordinates;

  private DataSet(Manifest manifest, Folds folds, FoldSplit split, Map<String, PatchCoordinates> coordinates) {
    this.manifest = manifest;
    this.folds = folds;
    this.train = folds.slidesIn(split.train());
    this.validation = folds.slidesIn(split.validation());
    this.coordinates = Map.copyOf(coordinates);
  }

  /** Reads the data set that {@code data} describes and splits it by {@code folds}. */
  public static DataSet load(DataSettings data, FoldSettings folds) {
    Manifest manifest = Manifest.read(data.manifest(), data.slides(), data.slideExtensions());
    Folds assigned = Folds.assign(manifest, folds.k(), folds.seed());
    Map<String, PatchCoordinates> coordinates = new HashMap<>();
    for (SlideEntry s : manifest.slides()) {
      int fold = assigned.foldOf(s.slideId());
      if (!folds.split().trains(fold) && !folds.split().validates(fold)) {
        continue;
      }
      Path csv = data.coords().resolve(s.slideId() + ".csv");
      if (!Files.isRegularFile(csv)) {
        throw new BagInputException(csv, 0, "coordinate file of slide '" + s.slideId() + "' (" + manifest.path()
            + " line " + s.line() + ") not found; see bagpipe.data.coords");
      }
      coordinates.put(s.slideId(), PatchCoordinates.read(csv));
    }
    return new DataSet(manifest, assigned, folds.split(), coordinates);
  }

  /** The manifest, all its slides in file order. */
  public Manifest manifest() {
    return manifest;
  }

  /** Every manifest slide's fold. */
  public Folds folds() {
    return folds;
  }

  /** Slides of the training folds, in manifest order. */
  public List<SlideEntry> train() {
    return train;
  }

  /** Slides of the validation folds, in manifest order. */
  public List<SlideEntry> validation() {
    return validation;
  }

  /** Coordinates of every training and validation slide, by slide id. */
  public Map<String, PatchCoordinates> coordinates() {
    return coordinates;
  }
}
