package io.bagpipe.bag;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Where a data set lives ({@code bagpipe.data}): the manifest, the folder of slide
 * files, the folder of per-slide coordinate files, the slide extensions tried, the
 * class map and the coordinate format. Paths are absolute or relative to the working
 * directory; nothing is opened.
 *
 * @param dir root folder of the data set
 * @param manifest the manifest CSV
 * @param slides folder holding {@code <slide_id>.<ext>}
 * @param coords folder holding {@code <slide_id>.csv} or {@code <slide_id>.h5}
 * @param slideExtensions extensions without dot, tried in order
 * @param classes class names in index order, or empty to map names in sorted order ({@link ClassMap})
 * @param coordsFormat which coordinate files are looked for
 * @param features folder of per-slide feature files ({@code <slide_id>.bpf} or CLAM/TRIDENT
 *     {@code .h5}) to train on instead of pixels, or empty to train from pixels
 */
public record DataSettings(Path dir, Path manifest, Path slides, Path coords, List<String> slideExtensions,
    List<String> classes, CoordsFormat coordsFormat, java.util.Optional<Path> features) {

  private static final String KEY = "bagpipe.data.";

  /** Which coordinate file a slide has ({@code bagpipe.data.coords-format}). */
  public enum CoordsFormat {
    /** {@code <id>.csv} when it exists, else {@code <id>.h5}. */
    AUTO,
    /** {@code <id>.csv} only. */
    CSV,
    /** {@code <id>.h5} only (CLAM, TRIDENT). */
    H5
  }

  public DataSettings {
    Objects.requireNonNull(dir, "dir");
    Objects.requireNonNull(manifest, "manifest");
    Objects.requireNonNull(slides, "slides");
    Objects.requireNonNull(coords, "coords");
    Objects.requireNonNull(coordsFormat, "coordsFormat");
    Objects.requireNonNull(features, "features");
    slideExtensions = List.copyOf(slideExtensions);
    classes = List.copyOf(classes);
    if (slideExtensions.isEmpty()) {
      throw new ConfigException.BadValue(KEY + "slide-extensions", "needs at least one extension");
    }
    for (String e : slideExtensions) {
      if (e.isBlank() || e.startsWith(".") || e.contains("/")) {
        throw new ConfigException.BadValue(KEY + "slide-extensions",
            "extensions are written without dot or slash, e.g. \"svs\"; got \"" + e + "\"");
      }
    }
    if (new HashSet<>(classes).size() != classes.size()) {
      throw new ConfigException.BadValue(KEY + "classes", "class names repeat in " + classes);
    }
    for (String c : classes) {
      if (c.isBlank() || c.contains(",") || !c.equals(c.trim())) {
        throw new ConfigException.BadValue(KEY + "classes",
            "class names must be non-blank, without commas or surrounding spaces; got \"" + c + "\"");
      }
    }
  }

  /** Settings that train from pixels. */
  public DataSettings(Path dir, Path manifest, Path slides, Path coords, List<String> slideExtensions,
      List<String> classes, CoordsFormat coordsFormat) {
    this(dir, manifest, slides, coords, slideExtensions, classes, coordsFormat, java.util.Optional.empty());
  }

  /** Settings with sorted class names and coordinate files found automatically. */
  public DataSettings(Path dir, Path manifest, Path slides, Path coords, List<String> slideExtensions) {
    this(dir, manifest, slides, coords, slideExtensions, List.of(), CoordsFormat.AUTO);
  }

  /**
   * Reads {@code bagpipe.data}. Relative paths are resolved against {@code dir}; when
   * the {@code slides} folder does not exist but {@code <dir>/svs} does (the
   * reference article's layout), {@code <dir>/svs} is used.
   */
  public static DataSettings fromConfig(Config data) {
    Path dir = Path.of(nonBlank(data, "dir"));
    Path slides = dir.resolve(nonBlank(data, "slides"));
    if (!Files.isDirectory(slides) && Files.isDirectory(dir.resolve("svs"))) {
      slides = dir.resolve("svs");
    }
    String format = data.getString("coords-format");
    CoordsFormat coordsFormat;
    try {
      coordsFormat = CoordsFormat.valueOf(format.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new ConfigException.BadValue(KEY + "coords-format", "must be auto, csv or h5; got \"" + format + "\"");
    }
    return new DataSettings(
        dir,
        dir.resolve(nonBlank(data, "manifest")),
        slides,
        dir.resolve(nonBlank(data, "coords")),
        data.getStringList("slide-extensions"),
        data.getStringList("classes"),
        coordsFormat,
        data.getString("features").isBlank() ? java.util.Optional.empty()
            : java.util.Optional.of(dir.resolve(data.getString("features"))));
  }

  private static String nonBlank(Config c, String key) {
    String v = c.getString(key);
    if (v.isBlank()) {
      throw new ConfigException.BadValue(KEY + key, "must not be empty");
    }
    return v;
  }
}
