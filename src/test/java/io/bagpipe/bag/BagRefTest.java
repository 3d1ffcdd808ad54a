package io.bagpipe.bag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class BagRefTest {

  private static BagRef bag(int[] xy, long key, int epoch) {
    return new BagRef("s", "/d/s.tif", 1, xy, 224, 0, epoch, key);
  }

  @Test
  void equalityFollowsTheCoordinateValues() {
    BagRef a = bag(new int[] {1, 2, 3, 4}, BagRef.trainingKey(2, 5), 2);
    BagRef b = bag(new int[] {1, 2, 3, 4}, BagRef.trainingKey(2, 5), 2);
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(a, bag(new int[] {1, 2, 3, 5}, BagRef.trainingKey(2, 5), 2));
    assertNotEquals(a, bag(new int[] {1, 2, 3, 4}, BagRef.trainingKey(2, 6), 2));
    assertEquals("BagRef[epoch 2 #5, slide s, label 1, 2 patches of 224 px at level 0]", a.toString());
    assertTrue(bag(new int[] {0, 0}, BagRef.validationKey(4), -1).toString().contains("val 4"));
  }

  @ParameterizedTest
  @CsvSource({"0,0", "7,123456", "2147483646,2147483646"})
  void keysAreUniqueAcrossEpochsIndicesAndValidation(int epoch, int index) {
    Set<Long> keys = new HashSet<>();
    for (int de = 0; de < 2; de++) {
      for (int di = 0; di < 2; di++) {
        assertTrue(BagRef.trainingKey(epoch + de, index + di) >= 0);
        assertTrue(keys.add(BagRef.trainingKey(epoch + de, index + di)));
      }
    }
    for (int di = 0; di < 2; di++) {
      assertTrue(BagRef.validationKey(index + di) < 0);
      assertTrue(keys.add(BagRef.validationKey(index + di)));
    }
  }

  @Test
  void rejectsInconsistentBags() {
    assertThrows(IllegalArgumentException.class, () -> bag(new int[] {1}, 0, 0));
    assertThrows(IllegalArgumentException.class, () -> bag(new int[0], 0, 0));
    assertThrows(IllegalArgumentException.class, () -> bag(new int[] {1, 2}, BagRef.validationKey(0), 0));
    assertThrows(IllegalArgumentException.class, () -> bag(new int[] {1, 2}, 0, -1));
  }
}
