package io.bagpipe.bag;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * The bags of one training epoch, or the fixed validation bags: a pure function of
 * the settings' seed, the epoch, the slides and their coordinates, so every node
 * computes the same plan without talking to the others.
 *
 * <p>Per slide with n patches (the reference article's cut): its patch order is
 * shuffled and consecutive runs of the shuffled order become bags, so no patch
 * appears twice in a slide's bags of one epoch. With bag size b and bag number m:
 * <ul>
 *   <li>{@code n >= b}: {@code min(m, floor(n / b))} bags of exactly b patches; the
 *       patches left over sit out this epoch (the next epoch draws anew);
 *   <li>{@code n < b}: one bag of all n patches (the article would drop the slide);
 *   <li>bag size {@code all}: one bag of all n patches.
 * </ul>
 *
 * <p>Randomness ({@link SplitMix64}, fully specified): a slide's patch shuffle is
 * seeded by (seed, epoch, FNV-1a hash of the slide id), so adding or removing a
 * slide leaves every other slide's bags unchanged, and every epoch draws new bags.
 * A training plan then shuffles the bags of all slides (taken in slide-id order,
 * so the input order does not matter) seeded by (seed, epoch). Validation plans
 * are seeded by (seed, slide id) alone: the same bags in every epoch, ordered by
 * slide id and then bag index, with no global shuffle.
 */
public final class EpochPlan {

  private static final long TRAIN_PATCHES = 1;
  private static final long TRAIN_ORDER = 2;
  private static final long VALIDATION_PATCHES = 3;

  private final int epoch;
  private final List<BagRef> bags;

  private EpochPlan(int epoch, List<BagRef> bags) {
    this.epoch = epoch;
    this.bags = List.copyOf(bags);
  }

  /** The training plan of {@code epoch} ({@code >= 0}); bag i has key {@code BagRef.trainingKey(epoch, i)}. */
  public static EpochPlan training(
      int epoch, List<SlideEntry> slides, Map<String, PatchCoordinates> coordinates, PlanSettings settings) {
    if (epoch < 0) {
      throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
    }
    List<Cut> cuts = cut(slides, coordinates, settings, TRAIN_PATCHES, epoch);
    int[] order = new int[cuts.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    SplitMix64.of(settings.seed(), TRAIN_ORDER, epoch).shufflePrefix(order, order.length);
    List<BagRef> bags = new ArrayList<>(order.length);
    for (int i = 0; i < order.length; i++) {
      bags.add(cuts.get(order[i]).bag(settings, epoch, BagRef.trainingKey(epoch, i)));
    }
    return new EpochPlan(epoch, bags);
  }

  /** The validation plan, the same for the whole run; bag i has key {@code BagRef.validationKey(i)}. */
  public static EpochPlan validation(
      List<SlideEntry> slides, Map<String, PatchCoordinates> coordinates, PlanSettings settings) {
    List<Cut> cuts = cut(slides, coordinates, settings, VALIDATION_PATCHES, 0);
    List<BagRef> bags = new ArrayList<>(cuts.size());
    for (int i = 0; i < cuts.size(); i++) {
      bags.add(cuts.get(i).bag(settings, -1, BagRef.validationKey(i)));
    }
    return new EpochPlan(-1, bags);
  }

  /** How many bags a slide of {@code patches} patches gives per epoch under {@code settings}. */
  public static int bagsPerSlide(int patches, PlanSettings settings) {
    return switch (settings.bagSize()) {
      case BagSize.All all -> 1;
      case BagSize.Fixed(int b) -> patches < b ? 1 : Math.min(settings.bagNum(), patches / b);
    };
  }

  /** The epoch, or -1 for the validation plan. */
  public int epoch() {
    return epoch;
  }

  /** The bags in plan order. */
  public List<BagRef> bags() {
    return bags;
  }

  /** Number of bags. */
  public int size() {
    return bags.size();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof EpochPlan p && epoch == p.epoch && bags.equals(p.bags);
  }

  @Override
  public int hashCode() {
    return 31 * epoch + bags.hashCode();
  }

  @Override
  public String toString() {
    return "EpochPlan[" + (epoch < 0 ? "validation" : "epoch " + epoch) + ", " + bags.size() + " bags]";
  }

  private record Cut(SlideEntry slide, int[] xy) {
    BagRef bag(PlanSettings s, int epoch, long key) {
      return new BagRef(slide.slideId(), slide.slide().toString(), slide.label(), xy, s.patchSize(), s.level(), epoch, key,
          s.targetMpp(), s.featureDim());
    }
  }

  private static List<Cut> cut(
      List<SlideEntry> slides, Map<String, PatchCoordinates> coordinates, PlanSettings s, long purpose, int epoch) {
    List<SlideEntry> sorted = slides.stream().sorted(Comparator.comparing(SlideEntry::slideId)).toList();
    var ids = new HashSet<String>();
    List<Cut> cuts = new ArrayList<>();
    for (SlideEntry slide : sorted) {
      if (!ids.add(slide.slideId())) {
        throw new IllegalArgumentException("slide '" + slide.slideId() + "' is listed twice");
      }
      PatchCoordinates c = coordinates.get(slide.slideId());
      if (c == null) {
        throw new IllegalArgumentException("no coordinates for slide '" + slide.slideId() + "'");
      }
      int n = c.size();
      int count = bagsPerSlide(n, s);
      int size = s.bagSize() instanceof BagSize.Fixed(int b) && n >= b ? b : n;
      int[] order = new int[n];
      for (int i = 0; i < n; i++) {
        order[i] = i;
      }
      long stream = purpose == VALIDATION_PATCHES ? 0 : epoch;
      SplitMix64.of(s.seed(), purpose, stream, SplitMix64.hash(slide.slideId())).shufflePrefix(order, count * size);
      for (int bag = 0; bag < count; bag++) {
        int[] xy = new int[2 * size];
        for (int t = 0; t < size; t++) {
          int p = order[bag * size + t];
          xy[2 * t] = c.x(p);
          xy[2 * t + 1] = c.y(p);
        }
        cuts.add(new Cut(slide, xy));
      }
    }
    return cuts;
  }
}
