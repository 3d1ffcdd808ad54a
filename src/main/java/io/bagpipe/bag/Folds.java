package io.bagpipe.bag;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The cross-validation fold (1..k) of every manifest slide.
 *
 * <p>When the manifest has a fold column its folds are used as they are (each must
 * lie in 1..k). Otherwise the reference article's stratified split: the slides of
 * each class, sorted by id (so the manifest's row order does not matter), are
 * shuffled with {@code SplitMix64(seed, label)} and cut into k consecutive parts
 * whose sizes differ by at most one (part i holds positions
 * {@code [floor(i*n/k), floor((i+1)*n/k))}), part i becoming fold i+1.
 */
public final class Folds {

  private final Manifest manifest;
  private final int k;
  private final Map<String, Integer> fold;

  private Folds(Manifest manifest, int k, Map<String, Integer> fold) {
    this.manifest = manifest;
    this.k = k;
    this.fold = Map.copyOf(fold);
  }

  /** Assigns folds to the slides of {@code manifest}. */
  public static Folds assign(Manifest manifest, int k, long seed) {
    if (k < 1) {
      throw new IllegalArgumentException("k must be positive, got " + k);
    }
    Map<String, Integer> fold = new HashMap<>();
    if (manifest.hasFolds()) {
      for (SlideEntry s : manifest.slides()) {
        int f = s.fold().orElseThrow();
        if (f > k) {
          throw new BagInputException(manifest.path(), s.line(),
              "fold " + f + " of slide '" + s.slideId() + "' is outside 1.." + k + " (bagpipe.plan.folds.k)");
        }
        fold.put(s.slideId(), f);
      }
      return new Folds(manifest, k, fold);
    }
    Map<Integer, List<SlideEntry>> byClass = new TreeMap<>();
    for (SlideEntry s : manifest.slides()) {
      byClass.computeIfAbsent(s.label(), l -> new ArrayList<>()).add(s);
    }
    for (var e : byClass.entrySet()) {
      List<SlideEntry> members = e.getValue();
      members.sort(Comparator.comparing(SlideEntry::slideId));
      int n = members.size();
      int[] order = new int[n];
      for (int i = 0; i < n; i++) {
        order[i] = i;
      }
      SplitMix64.of(seed, e.getKey()).shufflePrefix(order, n);
      for (int part = 0; part < k; part++) {
        for (int i = (int) ((long) part * n / k); i < (int) ((long) (part + 1) * n / k); i++) {
          fold.put(members.get(order[i]).slideId(), part + 1);
        }
      }
    }
    return new Folds(manifest, k, fold);
  }

  /** Number of folds. */
  public int k() {
    return k;
  }

  /** The fold of a manifest slide. */
  public int foldOf(String slideId) {
    Integer f = fold.get(slideId);
    if (f == null) {
      throw new IllegalArgumentException("slide '" + slideId + "' is not in " + manifest.path());
    }
    return f;
  }

  /** The slides of the given folds, in manifest order. */
  public List<SlideEntry> slidesIn(List<Integer> folds) {
    return manifest.slides().stream().filter(s -> folds.contains(fold.get(s.slideId()))).toList();
  }
}
