package io.bagpipe.api;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigRenderOptions;
import io.bagpipe.bag.ClassMap;
import io.bagpipe.bag.DataDigest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Optional;

/**
 * What a run directory keeps about where its model came from, written before any
 * actor starts (and again by a resume that was allowed to go on):
 * <ul>
 *   <li>{@code config.conf}: the resolved {@code bagpipe} subtree as HOCON, without comments;</li>
 *   <li>{@code classes.json}: the class map, index order is list order;</li>
 *   <li>{@code data-digest.json}: SHA-256 of the manifest and each coordinate file, one
 *       digest over all of them, and Bagpipe's version.</li>
 * </ul>
 * Each file is written to a temporary name and renamed, so a crash leaves the old one or the new one.
 */
final class Provenance {

  static final String CONFIG = "config.conf";
  static final String CLASSES = "classes.json";
  static final String DIGEST = "data-digest.json";

  private Provenance() {}

  /** Bagpipe's version, or a note saying that the build did not record it. */
  static String version() {
    return Bagpipe.version().orElse("unknown (not built by Maven)");
  }

  /** The data digest a previous start wrote into {@code runDir}, if any. */
  static Optional<DataDigest> previousDigest(Path runDir) {
    Path file = runDir.resolve(DIGEST);
    try {
      return Optional.of(DataDigest.parse(Files.readString(file)));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException | IllegalArgumentException e) {
      return Optional.empty(); // unreadable: the checkpoint's total digest still decides
    }
  }

  /** The files that changed since the digest {@code runDir} holds; empty when it holds none. */
  static List<String> changedFiles(Path runDir, DataDigest now) {
    return previousDigest(runDir).map(before -> now.changesFrom(before, 10)).orElse(List.of());
  }

  /** Writes the three files into {@code runDir}. */
  static void write(Path runDir, Config config, ClassMap classes, DataDigest digest) {
    String rendered = config.withOnlyPath("bagpipe").root()
        .render(ConfigRenderOptions.defaults().setOriginComments(false).setComments(false).setJson(false));
    String json = digest.toJson();
    String withVersion = "{\n  \"bagpipe_version\": \"" + version().replace("\"", "'") + "\","
        + json.substring(1);
    put(runDir.resolve(CONFIG), rendered);
    put(runDir.resolve(CLASSES), classes.toJson() + "\n");
    put(runDir.resolve(DIGEST), withVersion);
  }

  private static void put(Path file, String text) {
    try {
      // Every node of a run on a shared run directory writes these: each through a temporary file of its own.
      Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), file.getFileName() + ".", ".tmp");
      Files.writeString(tmp, text, StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file + " (the run's provenance; bagpipe.train.run-dir)", e);
    }
  }
}
