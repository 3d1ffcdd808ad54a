package io.bagpipe.predict;

import io.bagpipe.bag.Extent;
import io.bagpipe.bag.PatchCoordinates;
import java.nio.file.Path;

/**
 * Where a slide's patches come from: the one place prediction asks for them, so another source
 * (patching a slide's tissue on the fly) can take the place of coordinate files.
 */
@FunctionalInterface
public interface PatchSource {

  /**
   * The level-0 top-left corners of {@code task}'s patches.
   *
   * @param span side of a patch in level-0 pixels
   * @param levelZero the slide's level-0 size; every patch must lie inside it
   * @throws RuntimeException naming the file and line (or the slide) when they cannot be had
   */
  PatchCoordinates patches(SlideTask task, int span, Extent levelZero);

  /** Patches from {@code <dir>/<slide_id>.csv}, the data set layout's coordinate files. */
  static PatchSource csvFolder(Path dir) {
    return (task, span, extent) -> PatchCoordinates.read(dir.resolve(task.slideId() + ".csv"), span, extent);
  }

  /**
   * Patches from the slide's coordinate file in {@code dir} ({@code <slide_id>.csv}, else a CLAM or
   * TRIDENT {@code <slide_id>.h5}); a slide with neither is patched on the fly: its tissue is found
   * as {@code bagpipe patch} finds it ({@code tissue}), on a grid of the model's patches, and the
   * coordinates and thumbnail are kept in {@code patchedDir} ({@code coords/}, {@code thumbnails/}).
   */
  static PatchSource filesOrTissue(Path dir, io.bagpipe.slide.tissue.TissueSettings tissue, Path patchedDir,
      io.bagpipe.slide.Rgb background) {
    return (task, span, extent) -> {
      Path csv = dir.resolve(task.slideId() + ".csv");
      if (java.nio.file.Files.isRegularFile(csv)) {
        return PatchCoordinates.read(csv, span, extent);
      }
      Path h5 = dir.resolve(task.slideId() + ".h5");
      if (java.nio.file.Files.isRegularFile(h5)) {
        return io.bagpipe.bag.H5Coordinates.read(h5, span, extent).coordinates();
      }
      Path coords = patchedDir.resolve("coords");
      Path out = coords.resolve(task.slideId() + ".csv");
      try {
        java.nio.file.Files.createDirectories(coords);
        // The grid's cells are the model's patches: span level-0 pixels, whatever the slide's mpp.
        double slideMpp;
        try (io.bagpipe.slide.Slide s = io.bagpipe.slide.Slide.open(task.slide(), background)) {
          slideMpp = io.bagpipe.slide.tissue.SlidePatcher.slideMpp(s, tissue.assumeMpp(), "bagpipe.patch.assume-mpp");
        }
        io.bagpipe.slide.tissue.TissueSettings grid = tissue.with(span, slideMpp, tissue.assumeMpp(),
            tissue.minTissueFraction());
        io.bagpipe.slide.tissue.SlidePatcher.patch(task.slide(), task.slideId(), coords,
            java.nio.file.Files.createDirectories(patchedDir.resolve("thumbnails")), grid, background);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException("cannot patch slide '" + task.slideId() + "' (" + task.slide()
            + ") on the fly: " + e.getMessage(), e);
      }
      return PatchCoordinates.read(out, span, extent);
    };
  }
}
