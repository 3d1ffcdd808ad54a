package io.bagpipe.slide.tissue;

import io.bagpipe.bag.PatchCoordinates;

/**
 * Precision and recall of one patch grid against a reference grid: a patch counts
 * as matched when it overlaps some patch of the other grid by at least half its area.
 */
record GridMatch(int found, int reference, int foundMatched, int referenceMatched) {

  double precision() {
    return found == 0 ? 0 : (double) foundMatched / found;
  }

  double recall() {
    return reference == 0 ? 0 : (double) referenceMatched / reference;
  }

  static GridMatch of(PatchCoordinates found, long foundSide, PatchCoordinates reference, long referenceSide) {
    return new GridMatch(found.size(), reference.size(), matched(found, foundSide, reference, referenceSide),
        matched(reference, referenceSide, found, foundSide));
  }

  /** Patches of {@code a} that overlap a patch of {@code b} by half their own area or more. */
  private static int matched(PatchCoordinates a, long sa, PatchCoordinates b, long sb) {
    int n = 0;
    for (int i = 0; i < a.size(); i++) {
      for (int j = 0; j < b.size(); j++) {
        long ox = Math.min(a.x(i) + sa, b.x(j) + sb) - Math.max(a.x(i), b.x(j));
        long oy = Math.min(a.y(i) + sa, b.y(j) + sb) - Math.max(a.y(i), b.y(j));
        if (ox > 0 && oy > 0 && 2 * ox * oy >= sa * sa) {
          n++;
          break;
        }
      }
    }
    return n;
  }
}
