package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class EpochPlanTest {

  /** Slides "s0".."s{n-1}"; slide i has patches[i] distinct patches (x = 224*j, y = i). */
  record Data(List<SlideEntry> slides, Map<String, PatchCoordinates> coords) {
    static Data of(int... patches) {
      List<SlideEntry> slides = new ArrayList<>();
      Map<String, PatchCoordinates> coords = new HashMap<>();
      for (int i = 0; i < patches.length; i++) {
        String id = "s" + i;
        slides.add(new SlideEntry(id, i % 2, OptionalInt.empty(), Path.of("/data/slides/" + id + ".tif"), i + 1));
        int[] xy = new int[2 * patches[i]];
        for (int j = 0; j < patches[i]; j++) {
          xy[2 * j] = 224 * j;
          xy[2 * j + 1] = i;
        }
        coords.put(id, PatchCoordinates.of(xy));
      }
      return new Data(slides, coords);
    }

    EpochPlan training(int epoch, PlanSettings s) {
      return EpochPlan.training(epoch, slides, coords, s);
    }

    EpochPlan validation(PlanSettings s) {
      return EpochPlan.validation(slides, coords, s);
    }
  }

  static PlanSettings settings(long seed, int bagNum, int bagSize) {
    return new PlanSettings(seed, bagNum, bagSize < 0 ? new BagSize.All() : new BagSize.Fixed(bagSize), 224, 0, 1);
  }

  /** Per slide, the bags' patch lists, in a canonical order. */
  static Map<String, List<List<Integer>>> bagsBySlide(EpochPlan plan) {
    Map<String, List<List<Integer>>> out = new TreeMap<>();
    for (BagRef b : plan.bags()) {
      out.computeIfAbsent(b.slideId(), k -> new ArrayList<>()).add(Arrays.stream(b.coordinates()).boxed().toList());
    }
    out.values().forEach(l -> l.sort(Comparator.comparing(Object::toString)));
    return out;
  }

  @ParameterizedTest(name = "seed {0} epoch {1}")
  @CsvSource({"0,0", "1,0", "0,3", "-77,12"})
  void twoIndependentComputationsAgree(long seed, int epoch) {
    int[] sizes = {500, 40, 3, 1000, 64, 31};
    Data a = Data.of(sizes);
    Data b = Data.of(sizes);
    List<SlideEntry> reordered = new ArrayList<>(b.slides());
    Collections.reverse(reordered);
    EpochPlan p = a.training(epoch, settings(seed, 8, 32));
    assertEquals(p, b.training(epoch, settings(seed, 8, 32)));
    assertEquals(p, EpochPlan.training(epoch, reordered, b.coords(), settings(seed, 8, 32)), "input order must not matter");
    assertEquals(a.validation(settings(seed, 8, 32)), b.validation(settings(seed, 8, 32)));
    assertNotEquals(p, a.training(epoch, settings(seed + 1, 8, 32)));
  }

  @Test
  void planIsPinnedSoEveryVersionComputesTheSameBags() {
    EpochPlan p = Data.of(10, 5).training(1, settings(42, 2, 3));
    assertEquals(List.of("s1", "s0", "s0"), p.bags().stream().map(BagRef::slideId).toList());
    assertArrayEquals(new int[] {448, 1, 224, 1, 672, 1}, p.bags().get(0).coordinates());
    assertArrayEquals(new int[] {896, 0, 448, 0, 224, 0}, p.bags().get(1).coordinates());
    assertArrayEquals(new int[] {1344, 0, 1568, 0, 1792, 0}, p.bags().get(2).coordinates());
  }

  @ParameterizedTest(name = "patches {0}, bag-num {1}, bag-size {2}")
  @CsvSource({"1000,8,32", "100,8,32", "33,8,32", "7,8,32", "1,3,1", "64,8,-1", "9,1,9", "200,100,1"})
  void everyPatchAtMostOncePerSlidePerEpochAndBagsFollowTheRule(int n, int bagNum, int bagSize) {
    Data d = Data.of(n, n / 2 + 1, 1);
    PlanSettings s = settings(5, bagNum, bagSize);
    for (int epoch = 0; epoch < 3; epoch++) {
      EpochPlan plan = d.training(epoch, s);
      Map<String, Set<Long>> used = new HashMap<>();
      Map<String, Integer> bags = new HashMap<>();
      for (int i = 0; i < plan.size(); i++) {
        BagRef b = plan.bags().get(i);
        assertEquals(BagRef.trainingKey(epoch, i), b.key());
        assertEquals(epoch, b.epoch());
        bags.merge(b.slideId(), 1, Integer::sum);
        for (int j = 0; j < b.size(); j++) {
          long patch = ((long) b.coordinates()[2 * j] << 32) | b.coordinates()[2 * j + 1];
          assertTrue(used.computeIfAbsent(b.slideId(), k -> new HashSet<>()).add(patch),
              "patch repeated in slide " + b.slideId() + " epoch " + epoch);
        }
      }
      for (SlideEntry slide : d.slides()) {
        int patches = d.coords().get(slide.slideId()).size();
        int expected = bagSize < 0 ? 1 : patches < bagSize ? 1 : Math.min(bagNum, patches / bagSize);
        assertEquals(expected, bags.get(slide.slideId()), slide.slideId());
        assertEquals(expected, EpochPlan.bagsPerSlide(patches, s));
        int size = bagSize < 0 || patches < bagSize ? patches : bagSize;
        plan.bags().stream().filter(b -> b.slideId().equals(slide.slideId()))
            .forEach(b -> assertEquals(size, b.size()));
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"1,1,1", "31,1,31", "32,1,32", "63,1,32", "100,3,32", "256,8,32", "1000,8,32"})
  void smallSlidesGiveFewerOrSmallerBags(int patches, int bags, int size) {
    EpochPlan plan = Data.of(patches).training(0, settings(0, 8, 32));
    assertEquals(bags, plan.size());
    plan.bags().forEach(b -> assertEquals(size, b.size()));
  }

  @Test
  void everyEpochDrawsANewOrderAndNewBags() {
    Data d = Data.of(300, 300, 300, 300);
    PlanSettings s = settings(3, 4, 16);
    EpochPlan e0 = d.training(0, s);
    EpochPlan e1 = d.training(1, s);
    assertEquals(e0.size(), e1.size());
    assertNotEquals(e0.bags().stream().map(BagRef::slideId).toList(), e1.bags().stream().map(BagRef::slideId).toList());
    Map<String, List<List<Integer>>> b0 = bagsBySlide(e0);
    Map<String, List<List<Integer>>> b1 = bagsBySlide(e1);
    for (String slide : b0.keySet()) {
      assertNotEquals(b0.get(slide), b1.get(slide), slide);
    }
  }

  @Test
  void validationBagsAreTheSameEveryTimeAndInStableOrder() {
    Data d = Data.of(300, 20, 77);
    PlanSettings s = settings(3, 4, 16);
    EpochPlan v = d.validation(s);
    assertEquals(v, Data.of(300, 20, 77).validation(s));
    assertEquals(List.of("s0", "s0", "s0", "s0", "s1", "s2", "s2", "s2", "s2"),
        v.bags().stream().map(BagRef::slideId).toList());
    for (int i = 0; i < v.size(); i++) {
      assertEquals(BagRef.validationKey(i), v.bags().get(i).key());
      assertEquals(-1, v.bags().get(i).epoch());
      assertTrue(v.bags().get(i).validation());
    }
    d.training(0, s);
    d.training(1, s);
    assertEquals(v, d.validation(s));
  }

  @Test
  void bagSizeAllGivesOneBagPerSlideWithAllItsPatches() {
    Data d = Data.of(50, 1, 1234);
    EpochPlan plan = d.training(2, settings(0, 8, -1));
    assertEquals(3, plan.size());
    for (BagRef b : plan.bags()) {
      int[] want = d.coords().get(b.slideId()).toArray();
      assertEquals(sortedPairs(want), sortedPairs(b.coordinates()));
    }
  }

  private static List<Long> sortedPairs(int[] xy) {
    List<Long> out = new ArrayList<>();
    for (int i = 0; i < xy.length; i += 2) {
      out.add(((long) xy[i] << 32) | xy[i + 1]);
    }
    Collections.sort(out);
    return out;
  }

  @Test
  void addingASlideLeavesOtherSlidesBagsUnchanged() {
    PlanSettings s = settings(11, 4, 8);
    Data small = Data.of(100, 50, 9);
    Data extra = Data.of(400, 3);
    List<SlideEntry> slides = new ArrayList<>(small.slides());
    Map<String, PatchCoordinates> coords = new HashMap<>(small.coords());
    for (SlideEntry e : extra.slides()) {
      String id = "a-" + e.slideId();
      slides.addFirst(new SlideEntry(id, 1, OptionalInt.empty(), e.slide(), 9));
      coords.put(id, extra.coords().get(e.slideId()));
    }
    Data big = new Data(slides, coords);
    for (int epoch = 0; epoch < 3; epoch++) {
      Map<String, List<List<Integer>>> before = bagsBySlide(small.training(epoch, s));
      Map<String, List<List<Integer>>> after = bagsBySlide(big.training(epoch, s));
      before.forEach((slide, bags) -> assertEquals(bags, after.get(slide), slide));
    }
    Map<String, List<List<Integer>>> vBefore = bagsBySlide(small.validation(s));
    Map<String, List<List<Integer>>> vAfter = bagsBySlide(big.validation(s));
    vBefore.forEach((slide, bags) -> assertEquals(bags, vAfter.get(slide), slide));
  }

  @Test
  void bagRefCarriesSlideAndSettings() {
    BagRef b = Data.of(40).training(0, new PlanSettings(0, 1, new BagSize.Fixed(4), 256, 1, 1)).bags().getFirst();
    assertEquals("/data/slides/s0.tif", b.slidePath());
    assertEquals(256, b.patchSize());
    assertEquals(1, b.level());
    assertEquals(0, b.label());
  }
}
