package io.bagpipe.predict;

import io.bagpipe.bag.Manifest;
import io.bagpipe.bag.SlideEntry;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * A slide to predict: its id, its file and, when known, its label.
 *
 * @param slideId the slide's id (coordinate file {@code <id>.csv}, output files {@code <id>.csv/png})
 * @param slide the slide file
 * @param label its class, or -1 when unknown
 */
public record SlideTask(String slideId, Path slide, int label) {

  public SlideTask {
    Objects.requireNonNull(slideId, "slideId");
    Objects.requireNonNull(slide, "slide");
    if (label < -1) {
      throw new IllegalArgumentException("slide " + slideId + ": label must be >= 0, or -1 when unknown; got " + label);
    }
  }

  /** Whether the label is known. */
  public boolean labelled() {
    return label >= 0;
  }

  /** The manifest's slides with their labels. */
  public static List<SlideTask> of(Manifest manifest) {
    return of(manifest.slides(), true);
  }

  /** {@code slides} with their labels, or without when {@code labelled} is false. */
  public static List<SlideTask> of(List<SlideEntry> slides, boolean labelled) {
    return slides.stream().map(e -> new SlideTask(e.slideId(), e.slide(), labelled ? e.label() : -1)).toList();
  }
}
