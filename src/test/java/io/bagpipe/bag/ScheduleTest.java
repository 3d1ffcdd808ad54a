package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ScheduleTest {

  static List<BagRef> bags(int n, boolean validation) {
    return IntStream.range(0, n)
        .mapToObj(i -> new BagRef("s" + i % 7, "/s" + i % 7 + ".tif", i % 2, new int[] {i, 0}, 224, 0,
            validation ? -1 : 3, validation ? BagRef.validationKey(i) : BagRef.trainingKey(3, i)))
        .toList();
  }

  static Stream<Arguments> worldsBagsPerStepAndBagCounts() {
    Set<List<Integer>> cases = new LinkedHashSet<>();
    for (int world = 1; world <= 8; world++) {
      for (int perStep : new int[] {1, 2, 3}) {
        for (int b : new int[] {0, 1, world - 1, world, world * perStep, world * perStep + 1, 7 * world * perStep - 1, 53}) {
          cases.add(List.of(world, perStep, b));
        }
      }
    }
    return cases.stream().map(c -> Arguments.of(c.toArray()));
  }

  @ParameterizedTest(name = "W={0} P={1} B={2}")
  @MethodSource("worldsBagsPerStepAndBagCounts")
  void trainingUsesEveryBagExactlyOnceInLockstepSteps(int world, int perStep, int n) {
    List<BagRef> plan = bags(n, false);
    TrainSchedule t = TrainSchedule.of(plan, world * perStep);
    int steps = t.steps();
    assertEquals((n + world * perStep - 1) / (world * perStep), steps);
    List<BagRef> dealt = new ArrayList<>();
    for (int step = 0; step < steps; step++) {
      int inStep = 0;
      int min = Integer.MAX_VALUE;
      int max = 0;
      for (int rank = 0; rank < world; rank++) {
        List<BagRef> mine = t.bagsFor(step, rank, world);
        assertTrue(mine.size() <= perStep);
        if (step < steps - 1) {
          assertEquals(perStep, mine.size(), "only the last step may be short");
        }
        inStep += mine.size();
        min = Math.min(min, mine.size());
        max = Math.max(max, mine.size());
        dealt.addAll(mine);
      }
      assertEquals(inStep, t.bagCount(step, 1));
      assertTrue(t.bagCount(step, 1) >= 1, "no empty steps");
      assertTrue(max - min <= 1, "ranks differ by at most one bag in a step");
    }
    assertEquals(n, dealt.size(), "nothing dropped, nothing padded");
    assertEquals(n, t.bagCount(0, steps));
    assertEquals(n, new HashSet<>(dealt).size(), "no duplicates");
    dealt.sort(java.util.Comparator.comparingLong(BagRef::key));
    assertEquals(plan, dealt);
    assertThrows(IndexOutOfBoundsException.class, () -> t.bagsFor(steps, 0, world));
    assertThrows(IndexOutOfBoundsException.class, () -> t.bagsFor(0, world, world));
  }

  /**
   * A ring that shrinks or grows mid-epoch deals each remaining step over another
   * number of ranks: the step still holds exactly its own bags, so a step cut by a
   * failure is retaken with the same bags and the epoch covers every bag once.
   */
  @ParameterizedTest(name = "W={0} P={1} B={2}")
  @MethodSource("worldsBagsPerStepAndBagCounts")
  void aStepHoldsTheSameBagsWhateverTheNumberOfRanks(int world, int perStep, int n) {
    TrainSchedule t = TrainSchedule.of(bags(n, false), world * perStep);
    List<BagRef> dealt = new ArrayList<>();
    for (int step = 0; step < t.steps(); step++) {
      Set<BagRef> atStart = new HashSet<>();
      for (int rank = 0; rank < world; rank++) {
        atStart.addAll(t.bagsFor(step, rank, world));
      }
      int survivors = 1 + step % Math.max(1, world + 2); // fewer, as many, or more ranks than at the start
      List<BagRef> later = new ArrayList<>();
      for (int rank = 0; rank < survivors; rank++) {
        later.addAll(t.bagsFor(step, rank, survivors));
      }
      assertEquals(atStart, new HashSet<>(later), "step " + step + " over " + survivors + " ranks");
      assertEquals(atStart.size(), later.size());
      dealt.addAll(later);
    }
    assertEquals(n, new HashSet<>(dealt).size());
    assertEquals(n, dealt.size());
    assertEquals(0, t.bagCount(t.steps(), 3));
  }
}
