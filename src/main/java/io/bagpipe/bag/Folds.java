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
 * lie in 1..k; {@link Manifest} has checked that a case's slides share one). Otherwise
 * the reference article's stratified split, drawn over cases so that all slides of a
 * patient land in one fold: the cases of each class (a case counts under the label of
 * its first slide by id; without a case column each slide is its own case), sorted by
 * case id (so the manifest's row order does not matter), are shuffled with
 * {@code SplitMix64(seed, label)} and cut into k consecutive parts whose sizes differ
 * by at most one (part i holds positions {@code [floor(i*n/k), floor((i+1)*n/k))}),
 * part i becoming fold i+1.
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
    // One unit per case: the slide itself when the manifest has no case column. A case
    // counts under the label of its first slide by id.
    Map<String, List<SlideEntry>> cases = new TreeMap<>();
    for (SlideEntry s : manifest.slides()) {
      cases.computeIfAbsent(s.caseId(), c -> new ArrayList<>()).add(s);
    }
    Map<Integer, List<String>> byClass = new TreeMap<>();
    for (var c : cases.entrySet()) {
      SlideEntry lead = c.getValue().stream().min(Comparator.comparing(SlideEntry::slideId)).orElseThrow();
      byClass.computeIfAbsent(lead.label(), l -> new ArrayList<>()).add(c.getKey());
    }
    for (var e : byClass.entrySet()) {
      List<String> members = e.getValue(); // case ids, sorted
      int n = members.size();
      int[] order = new int[n];
      for (int i = 0; i < n; i++) {
        order[i] = i;
      }
      SplitMix64.of(seed, e.getKey()).shufflePrefix(order, n);
      for (int part = 0; part < k; part++) {
        for (int i = (int) ((long) part * n / k); i < (int) ((long) (part + 1) * n / k); i++) {
          for (SlideEntry s : cases.get(members.get(order[i]))) {
            fold.put(s.slideId(), part + 1);
          }
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
