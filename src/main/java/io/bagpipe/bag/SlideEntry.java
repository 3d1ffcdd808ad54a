package io.bagpipe.bag;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * One manifest row: a slide, its class label, its case (patient) and, when the
 * manifest has those columns, its cross-validation fold and its split.
 *
 * @param slideId the slide's id, also the stem of its slide and coordinate files
 * @param label class index, {@code >= 0} (a class name is mapped through the manifest's {@link ClassMap})
 * @param fold the fold (1..k) given by the manifest, or empty when the manifest has no fold column
 * @param slide the slide file, resolved but never opened
 * @param line the manifest line the row came from (1-based), for error messages
 * @param caseId the case (patient) the slide belongs to; the slide id when the manifest has no case column
 * @param split train, val or test from the manifest's split column, or empty when it has none
 */
public record SlideEntry(String slideId, int label, OptionalInt fold, Path slide, int line, String caseId,
    Optional<Split> split) {

  public SlideEntry {
    Objects.requireNonNull(slideId, "slideId");
    Objects.requireNonNull(fold, "fold");
    Objects.requireNonNull(slide, "slide");
    Objects.requireNonNull(caseId, "caseId");
    Objects.requireNonNull(split, "split");
    if (slideId.isEmpty()) {
      throw new IllegalArgumentException("slide id is empty");
    }
    if (caseId.isEmpty()) {
      throw new IllegalArgumentException("case id of slide " + slideId + " is empty");
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

  /** A row with no case column (the slide is its own case) and no split column. */
  public SlideEntry(String slideId, int label, OptionalInt fold, Path slide, int line) {
    this(slideId, label, fold, slide, line, slideId, Optional.empty());
  }
}
