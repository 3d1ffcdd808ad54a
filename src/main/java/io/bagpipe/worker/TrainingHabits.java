package io.bagpipe.worker;

import io.bagpipe.model.LrSchedule;
import java.util.Objects;

/**
 * How a replica trains beyond the optimizer's formula: the learning-rate schedule over the global
 * step, clipping of the averaged gradient, class weights of the loss and patch augmentation. Every
 * replica of a run gets the same, so replicas stay bit-identical.
 *
 * @param schedule the learning rate of each global step ({@code bagpipe.optimizer.schedule})
 * @param clipNorm largest global L2 norm of the averaged gradient, 0 for no clipping
 *     ({@code bagpipe.optimizer.clip-norm})
 * @param classWeights loss weight of each class, or null for none ({@code bagpipe.train.class-weights})
 * @param augment patch augmentation ({@code bagpipe.augment})
 * @param seed the run's seed, which seeds the augmentation ({@code bagpipe.plan.seed})
 */
public record TrainingHabits(LrSchedule schedule, double clipNorm, float[] classWeights, AugmentSettings augment,
    long seed) {

  public TrainingHabits {
    Objects.requireNonNull(schedule, "schedule");
    Objects.requireNonNull(augment, "augment");
    if (!(clipNorm >= 0) || Double.isInfinite(clipNorm)) {
      throw new IllegalArgumentException("bagpipe.optimizer.clip-norm must be >= 0 (0: off), got " + clipNorm);
    }
    classWeights = classWeights == null ? null : classWeights.clone();
  }

  /** A constant learning rate, no clipping, no class weights, no augmentation. */
  public static TrainingHabits none() {
    return new TrainingHabits(LrSchedule.constant(), 0, null, AugmentSettings.off(), 0);
  }
}
