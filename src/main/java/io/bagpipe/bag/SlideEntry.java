package io.bagpipe.bag;

import java.nio.file.Path;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * One manifest row: a slide, its class label and, when the manifest has a fold
 * column, its cross-validation fold.
 *
 * @param slideId the slide's id, also the stem of its slide and coordinate files
 * @param label class index, {@code >= 0}
 * @param fold the fold (1..k) given by the manifest, or empty when the manifest has no fold column
 * @param slide the slide file, resolved but never opened
 * @param line the manifest line the row came from (1-based), for error messages
 */
public record SlideEntry(String slideId, int label, OptionalInt fold, Path slide, int line) {

  public SlideEntry {
    Objects.requireNonNull(slideId, "slideId");
    Objects.requireNonNull(fold, "fold");
    Objects.requireNonNull(slide, "slide");
    if (slideId.isEmpty()) {
      throw new IllegalArgumentException("slide id is empty");
    }
    if (label < 0) {
      throw new IllegalArgumentException("label of slide " + slideId + " is negative: " + label);
    }
    if (fold.isPresent() && fold.getAsInt() < 1) {
      throw new IllegalArgumentException("fold of slide " + slideId + " must be >= 1, got " + fold.getAsInt());
    }
    if (line < 1) {
      throw new IllegalArgumentException("line must be >= 1, got " + line);
    }
  }
}
