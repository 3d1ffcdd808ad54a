package io.bagpipe.bag;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A data set ready for planning: the manifest, each slide's fold, the training,
 * validation and test slides, and the patch coordinates of those slides.
 *
 * <p>Which slides train and validate: the manifest's {@code split} column when it has
 * one ({@code train}, {@code val}; {@code test} slides are held out and only scored at
 * the end of the run), otherwise the configured folds (no test slides then).
 *
 * <p>Loading reads the manifest and the coordinate files of the training, validation
 * and test slides (other slides are not read): {@code coords/<id>.csv}, or a CLAM or
 * TRIDENT {@code coords/<id>.h5} ({@link H5Coordinates}) as
 * {@code bagpipe.data.coords-format} says. It checks that slide files exist but opens
 * none, so coordinates are not checked against slide extents here (a caller holding
 * an open slide may re-read with {@link PatchCoordinates#read(Path, int, Extent)}).
 * Problems are {@link BagInputException}s naming file and line.
 */
public final class DataSet {

  private final Manifest manifest;
  private final Folds folds;
  private final List<SlideEntry> train;
  private final List<SlideEntry> validation;
  private final List<SlideEntry> test;
  private final Map<String, PatchCoordinates> coordinates;
  private final Map<String, Path> coordinateFiles;
  private final Map<String, Integer> patchSizeLevel0;
  private final int featureDim;
  private final Map<String, String> featureEncoder;

  private DataSet(Manifest manifest, Parts parts, Map<String, PatchCoordinates> coordinates,
      Map<String, Path> coordinateFiles, Map<String, Integer> patchSizeLevel0, int featureDim,
      Map<String, String> featureEncoder) {
    this.featureDim = featureDim;
    this.featureEncoder = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(featureEncoder));
    this.manifest = manifest;
    this.folds = parts.assigned();
    this.train = List.copyOf(parts.train());
    this.validation = List.copyOf(parts.validation());
    this.test = List.copyOf(parts.test());
    this.coordinates = Map.copyOf(coordinates);
    this.coordinateFiles = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(coordinateFiles));
    this.patchSizeLevel0 = Map.copyOf(patchSizeLevel0);
  }

  /** Reads the data set that {@code data} describes and splits it by {@code folds}, checking no patch size. */
  public static DataSet load(DataSettings data, FoldSettings folds) {
    return load(data, folds, 0);
  }

  /**
   * The manifest's folds and its training, validation and test slides: by its split column when
   * it has one, else by the folds ({@code test} empty); {@code used} holds the ids of all three.
   */
  private record Parts(Folds assigned, List<SlideEntry> train, List<SlideEntry> validation, List<SlideEntry> test,
      java.util.Set<String> used) {

    static Parts of(Manifest manifest, FoldSettings folds) {
      Folds assigned = Folds.assign(manifest, folds.k(), folds.seed());
      Parts p = manifest.hasSplits()
          ? new Parts(assigned, inSplit(manifest, Split.TRAIN), inSplit(manifest, Split.VAL), inSplit(manifest, Split.TEST),
              new java.util.HashSet<>())
          : new Parts(assigned, assigned.slidesIn(folds.split().train()), assigned.slidesIn(folds.split().validation()),
              List.of(), new java.util.HashSet<>());
      for (List<SlideEntry> part : List.of(p.train, p.validation, p.test)) {
        part.forEach(s -> p.used.add(s.slideId()));
      }
      return p;
    }

    /** The manifest's training, validation and test slides in manifest order: the ones whose files are read. */
    List<SlideEntry> read(Manifest manifest) {
      return manifest.slides().stream().filter(s -> used.contains(s.slideId())).toList();
    }
  }

  /**
   * Reads the data set that {@code data} describes and splits it by the manifest's
   * split column or else by {@code folds}.
   *
   * @param patchSizeLevel0 the run's patch side in level-0 pixels; when positive, an
   *     {@code .h5} file whose attributes give another level-0 patch size is an error
   *     naming the file and {@code bagpipe.plan.patch-size}. 0 checks nothing.
   */
  public static DataSet load(DataSettings data, FoldSettings folds, int patchSizeLevel0) {
    if (data.features().isPresent()) {
      return loadFeatures(data, folds, data.features().get());
    }
    Manifest manifest = Manifest.read(data.manifest(), data.slides(), data.slideExtensions(), data.classes());
    Parts parts = Parts.of(manifest, folds);
    Map<String, PatchCoordinates> coordinates = new HashMap<>();
    Map<String, Path> files = new LinkedHashMap<>();
    Map<String, Integer> sizes = new HashMap<>();
    for (SlideEntry s : parts.read(manifest)) {
      Path file = coordinateFile(data, manifest, s);
      files.put(s.slideId(), file);
      if (file.getFileName().toString().endsWith(".h5")) {
        H5Coordinates h5 = H5Coordinates.read(file);
        OptionalInt level0 = h5.patchSizeLevel0();
        if (level0.isPresent()) {
          sizes.put(s.slideId(), level0.getAsInt());
          if (patchSizeLevel0 > 0 && level0.getAsInt() != patchSizeLevel0) {
            throw new BagInputException(file, 0, "its patches are " + level0.getAsInt() + " pixels wide at level 0"
                + " (attributes patch_size " + h5.patchSize() + ", patch_level " + h5.patchLevel() + "), but this run"
                + " reads " + patchSizeLevel0 + "-pixel patches at level 0; set bagpipe.plan.patch-size = "
                + level0.getAsInt() + " (at bagpipe.plan.level = 0) to train on the patches this file describes");
          }
        }
        coordinates.put(s.slideId(), h5.coordinates());
      } else {
        coordinates.put(s.slideId(), PatchCoordinates.read(file));
      }
    }
    return new DataSet(manifest, parts, coordinates, files, sizes, 0, Map.of());
  }

  /**
   * A data set of feature files ({@code bagpipe.data.features}): each manifest slide's "slide" is
   * its feature file {@code <dir>/<slide_id>.bpf} (else {@code .h5}, else {@code .pt}), and its
   * coordinates are the file's rows as {@code (row, 0)} pairs, so plans pick rows as they pick
   * patches. Only headers are read (an {@code .h5}'s dataset shapes, a {@code .pt}'s pickle); every
   * file must have the same D.
   */
  private static DataSet loadFeatures(DataSettings data, FoldSettings folds, Path dir) {
    if (!Files.isDirectory(dir)) {
      throw new BagInputException(dir, 0, "feature folder not found (bagpipe.data.features); run bagpipe features"
          + " --out " + dir + " first");
    }
    Manifest manifest;
    try {
      manifest = Manifest.read(data.manifest(), dir, List.of("bpf", "h5", "pt"), data.classes());
    } catch (BagInputException e) {
      if (!e.getMessage().contains("no file for slide")) {
        throw e;
      }
      String id = e.getMessage().replaceAll("(?s).*no file for slide '([^']*)'.*", "$1");
      throw new BagInputException(e.path(), e.line(), "no feature file for slide '" + id + "' in " + dir
          + " (tried " + id + ".bpf, .h5, .pt; bagpipe.data.features): run bagpipe features --out " + dir
          + ", or point bagpipe.data.features at the folder of its feature files");
    }
    Parts parts = Parts.of(manifest, folds);
    Map<String, PatchCoordinates> coordinates = new HashMap<>();
    Map<String, Path> files = new LinkedHashMap<>();
    int dim = 0;
    Map<String, String> encoder = Map.of();
    Path first = null;
    for (SlideEntry s : parts.read(manifest)) {
      Path file = s.slide();
      int rows;
      int d;
      try (io.bagpipe.features.FeatureRows f = io.bagpipe.features.FeatureRows.open(file)) {
        rows = f.rows();
        d = f.dim();
        if (first == null) {
          encoder = f.metadata();
        }
      } catch (io.bagpipe.features.FeatureFileException e) {
        throw new BagInputException(file, 0, e.getMessage().substring(file.toString().length() + 2)
            + " (slide '" + s.slideId() + "', " + manifest.path() + " line " + s.line() + ")");
      }
      if (first == null) {
        first = file;
        dim = d;
      } else if (d != dim) {
        throw new BagInputException(file, 0, "has " + d + " features per patch, " + first + " has " + dim
            + ": every feature file of a run must come from the same encoder");
      }
      int[] xy = new int[2 * rows];
      for (int r = 0; r < rows; r++) {
        xy[2 * r] = r;
      }
      coordinates.put(s.slideId(), PatchCoordinates.wrap(xy));
      files.put(s.slideId(), file);
    }
    return new DataSet(manifest, parts, coordinates, files, Map.of(), dim, encoder);
  }

  /** D of the feature files when training on features ({@code bagpipe.data.features}), else 0. */
  public int featureDim() {
    return featureDim;
  }

  /** The first feature file's metadata (its encoder's identity), empty when training on pixels. */
  public Map<String, String> featureEncoder() {
    return featureEncoder;
  }

  private static List<SlideEntry> inSplit(Manifest manifest, Split split) {
    return manifest.slides().stream().filter(s -> s.split().orElseThrow() == split).toList();
  }

  private static Path coordinateFile(DataSettings data, Manifest manifest, SlideEntry s) {
    Path csv = data.coords().resolve(s.slideId() + ".csv");
    Path h5 = data.coords().resolve(s.slideId() + ".h5");
    List<Path> tried = switch (data.coordsFormat()) {
      case AUTO -> List.of(csv, h5);
      case CSV -> List.of(csv);
      case H5 -> List.of(h5);
    };
    for (Path p : tried) {
      if (Files.isRegularFile(p)) {
        return p;
      }
    }
    throw new BagInputException(tried.getFirst(), 0, "coordinate file of slide '" + s.slideId() + "' ("
        + manifest.path() + " line " + s.line() + ") not found"
        + (tried.size() > 1 ? " (nor " + tried.get(1).getFileName() + ")" : "")
        + "; see bagpipe.data.coords and bagpipe.data.coords-format");
  }

  /** The manifest, all its slides in file order. */
  public Manifest manifest() {
    return manifest;
  }

  /** The class names of the labels, in index order. */
  public ClassMap classes() {
    return manifest.classes();
  }

  /** Every manifest slide's fold. */
  public Folds folds() {
    return folds;
  }

  /** Slides that train (training folds, or split {@code train}), in manifest order. */
  public List<SlideEntry> train() {
    return train;
  }

  /** Slides validated after each epoch (validation folds, or split {@code val}), in manifest order. */
  public List<SlideEntry> validation() {
    return validation;
  }

  /** Slides of split {@code test}, scored once at the end of the run; empty without a split column. */
  public List<SlideEntry> test() {
    return test;
  }

  /** Coordinates of every training, validation and test slide, by slide id. */
  public Map<String, PatchCoordinates> coordinates() {
    return coordinates;
  }

  /** The coordinate file read for each training, validation and test slide, in manifest order. */
  public Map<String, Path> coordinateFiles() {
    return coordinateFiles;
  }

  /** A slide's patch side in level-0 pixels, when its {@code .h5} file's attributes give it. */
  public OptionalInt patchSizeLevel0(String slideId) {
    Integer v = patchSizeLevel0.get(slideId);
    return v == null ? OptionalInt.empty() : OptionalInt.of(v);
  }
}
