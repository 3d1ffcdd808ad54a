package io.bagpipe.api;

import io.bagpipe.coordinator.EpochRecord;

/**
 * How a run ended.
 *
 * @param epochsCompleted epochs trained and validated
 * @param stopped true when stopped gracefully before the last epoch
 * @param bestMetric the metric that picks the best checkpoint
 * @param bestValue its best value, NaN when none
 * @param bestEpoch the epoch of that value, -1 when none
 * @param last the last epoch's record, or null when no epoch completed
 * @param lastCheckpoint path of the newest checkpoint, empty when none
 * @param bestCheckpoint path of the best checkpoint, empty when none
 */
public record RunResult(int epochsCompleted, boolean stopped, String bestMetric, double bestValue, int bestEpoch,
    EpochRecord last, String lastCheckpoint, String bestCheckpoint) {}
