package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.api.RunEvent;
import org.junit.jupiter.api.Test;

/** The bench's meter counts bags across epochs and opens its window once the warm-up bags are done. */
class ThroughputMeterTest {

  /** Two epochs of four steps of two bags each: 16 bags, {@code bagsDone} restarting every epoch. */
  private static void twoEpochs(BenchTrainCommand.ThroughputMeter meter) {
    for (int epoch = 1; epoch <= 2; epoch++) {
      for (int step = 1; step <= 4; step++) {
        meter.onNext(new RunEvent.StepCompleted(epoch, step, 4, 0.5, 1, 2 * step));
      }
    }
  }

  @Test
  void theWindowOpensAfterTheWarmUpAndCountsBagsAcrossEpochs() {
    BenchTrainCommand.ThroughputMeter meter = new BenchTrainCommand.ThroughputMeter(5);
    meter.onNext(new RunEvent.ValidationStarted(1, 3)); // not a step: ignored
    twoEpochs(meter);
    // opens at 6 bags (epoch 1, step 3), closes at 16 (epoch 2, step 4)
    assertTrue(meter.measured());
    assertEquals(10, meter.bagsMeasured());
    assertTrue(meter.bagsPerSecond() > 0 && Double.isFinite(meter.bagsPerSecond()), "" + meter.bagsPerSecond());
    assertTrue(meter.cpuMsPerBag() >= 0 && Double.isFinite(meter.cpuMsPerBag()), "" + meter.cpuMsPerBag());
  }

  @Test
  void aRunShorterThanTheWarmUpMeasuresNothing() {
    BenchTrainCommand.ThroughputMeter meter = new BenchTrainCommand.ThroughputMeter(16);
    twoEpochs(meter);
    assertFalse(meter.measured(), "the window opened at the last step, so it holds no bag");
    BenchTrainCommand.ThroughputMeter never = new BenchTrainCommand.ThroughputMeter(100);
    twoEpochs(never);
    assertFalse(never.measured());
  }
}
