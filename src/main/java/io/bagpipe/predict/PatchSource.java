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
}
