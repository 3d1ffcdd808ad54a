package io.bagpipe.bag;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Where a data set lives ({@code bagpipe.data}): the manifest, the folder of slide
 * files, the folder of per-slide coordinate CSVs, and the slide extensions tried.
 * Paths are absolute or relative to the working directory; nothing is opened.
 *
 * @param dir root folder of the data set
 * @param manifest the manifest CSV
 * @param slides folder holding {@code <slide_id>.<ext>}
 * @param coords folder holding {@code <slide_id>.csv}
 * @param slideExtensions extensions without dot, tried in order
 */
public record DataSettings(Path dir, Path manifest, Path slides, Path coords, List<String> slideExtensions) {

  private static final String KEY = "bagpipe.data.";

  public DataSettings {
    Objects.requireNonNull(dir, "dir");
    Objects.requireNonNull(manifest, "manifest");
    Objects.requireNonNull(slides, "slides");
    Objects.requireNonNull(coords, "coords");
    slideExtensions = List.copyOf(slideExtensions);
    if (slideExtensions.isEmpty()) {
      throw new ConfigException.BadValue(KEY + "slide-extensions", "needs at least one extension");
    }
    for (String e : slideExtensions) {
      if (e.isBlank() || e.startsWith(".") || e.contains("/")) {
        throw new ConfigException.BadValue(KEY + "slide-extensions",
            "extensions are written without dot or slash, e.g. \"svs\"; got \"" + e + "\"");
      }
    }
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
    return new DataSettings(
        dir,
        dir.resolve(nonBlank(data, "manifest")),
        slides,
        dir.resolve(nonBlank(data, "coords")),
        data.getStringList("slide-extensions"));
  }

  private static String nonBlank(Config c, String key) {
    String v = c.getString(key);
    if (v.isBlank()) {
      throw new ConfigException.BadValue(KEY + key, "must not be empty");
    }
    return v;
  }
}
