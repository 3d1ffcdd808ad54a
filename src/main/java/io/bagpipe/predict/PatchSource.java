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

  /** A slide's patches and the side of each in level-0 pixels. */
  record Located(PatchCoordinates patches, int span) {}

  /**
   * {@code task}'s patches for a model that reads {@code patchSize} pixels at {@code level}, or
   * at {@code targetMpp} µm/px when that is positive (resized from the best level): the side of a
   * patch in level-0 pixels follows from the slide, which is opened once to tell.
   *
   * @throws IllegalArgumentException naming the slide when it lacks the level, or the mpp a
   *     target mpp needs
   */
  default Located locate(SlideTask task, io.bagpipe.slide.SlidePool slides, int patchSize, int level,
      double targetMpp) {
    int span;
    Extent extent;
    try (io.bagpipe.slide.SlidePool.Lease lease = slides.acquire(task.slide())) {
      io.bagpipe.slide.Slide slide = lease.slide();
      if (level >= slide.levelCount()) {
        throw new IllegalArgumentException("slide '" + task.slideId() + "' (" + task.slide() + ") has "
            + slide.levelCount() + " level(s); the model reads patches at level " + level);
      }
      if (targetMpp > 0) { // bagpipe.plan.target-mpp: the extent depends on the slide's own mpp
        double mpp = slide.micronsPerPixelX().orElseThrow(() -> new IllegalArgumentException("slide '"
            + task.slideId() + "' (" + task.slide() + ") does not say its microns per pixel, and the model reads"
            + " patches at " + targetMpp + " um/px (bagpipe.plan.target-mpp)"));
        span = Math.toIntExact(io.bagpipe.slide.Slide.patchExtent(patchSize, targetMpp, mpp));
      } else {
        span = (int) Math.ceil(patchSize * slide.level(level).downsample());
      }
      extent = new Extent(slide.level(0).width(), slide.level(0).height());
    }
    return new Located(patches(task, span, extent), span);
  }

  /** Patches from {@code <dir>/<slide_id>.csv}, the data set layout's coordinate files. */
  static PatchSource csvFolder(Path dir) {
    return (task, span, extent) -> PatchCoordinates.read(dir.resolve(task.slideId() + ".csv"), span, extent);
  }

  /**
   * Patches from the slide's coordinate file in {@code dir} ({@code <slide_id>.csv}, else a CLAM or
   * TRIDENT {@code <slide_id>.h5}); a slide with neither is patched on the fly: its tissue is found
   * as {@code bagpipe patch} finds it ({@code tissue}), on a grid of the model's patches, and the
   * coordinates and thumbnail are kept in {@code patchedDir} ({@code coords/}, {@code thumbnails/}).
   * The slide is read as {@code slides} says, as the patches themselves are.
   */
  static PatchSource filesOrTissue(Path dir, io.bagpipe.slide.tissue.TissueSettings tissue, Path patchedDir,
      io.bagpipe.slide.SlideSettings slides) {
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
        try (io.bagpipe.slide.Slide s = io.bagpipe.slide.Slide.open(task.slide(), slides)) {
          slideMpp = io.bagpipe.slide.tissue.SlidePatcher.slideMpp(s, tissue.assumeMpp(), "bagpipe.patch.assume-mpp");
        }
        io.bagpipe.slide.tissue.TissueSettings grid = tissue.with(span, slideMpp, tissue.assumeMpp(),
            tissue.minTissueFraction());
        io.bagpipe.slide.tissue.SlidePatcher.patch(task.slide(), task.slideId(), coords,
            java.nio.file.Files.createDirectories(patchedDir.resolve("thumbnails")), grid, slides);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException("cannot patch slide '" + task.slideId() + "' (" + task.slide()
            + ") on the fly: " + e.getMessage(), e);
      }
      return PatchCoordinates.read(out, span, extent);
    };
  }
}
