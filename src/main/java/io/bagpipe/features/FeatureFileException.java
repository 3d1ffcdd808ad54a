package io.bagpipe.features;

import java.nio.file.Path;

/** A feature file that is missing, malformed or does not fit the run; the message names the file. */
public final class FeatureFileException extends RuntimeException {

  private final transient Path file;

  public FeatureFileException(Path file, String problem) {
    super(file + ": " + problem);
    this.file = file;
  }

  /** The file at fault. */
  public Path file() {
    return file;
  }
}
