package io.bagpipe.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class WorkerMeterTest {

  /** A ring of W ranks: each sends 2 (W-1)/W of the gradient's bytes per step (reduce-scatter + all-gather). */
  @ParameterizedTest(name = "{0} ranks")
  @CsvSource({"1, 0", "2, 4000", "4, 6000", "8, 7000"})
  void countsRingBusBytesAndStagesPerAppliedStep(int world, long bytesPerStep) {
    WorkerMeter m = new WorkerMeter();
    m.joined(3, world - 1, world);
    Worker.StageNanos t = new Worker.StageNanos(1, 2, 3, 4, 5, 6);
    m.applied(2, t, 1000);
    m.applied(1, t, 1000);
    assertEquals(2 * bytesPerStep, m.allReduceBytes());
    assertEquals(2, m.steps());
    assertEquals(3, m.bags());
    assertEquals(3, m.generation());
    assertEquals(world - 1, m.rank());
    assertEquals(world, m.world());
    long[] want = {2, 4, 6, 8, 10, 12};
    for (WorkerMeter.Stage s : WorkerMeter.Stage.values()) {
      assertEquals(want[s.ordinal()], m.stageNanos(s), s.label());
    }
  }
}
