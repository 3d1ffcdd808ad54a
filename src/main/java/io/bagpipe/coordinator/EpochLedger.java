package io.bagpipe.coordinator;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One epoch's account of its bags (docs/adr/0008): every planned training bag must end
 * in a committed step or a skip, every validation bag scored or skipped. The epoch
 * record carries it; a mid-epoch checkpoint carries it in its run state, so a resume
 * goes on with it.
 */
final class EpochLedger {
  final int epoch;
  final List<Long> generations = new ArrayList<>();
  /** The step the epoch's training began at: 0, or where a resume or a new Coordinator picked it up. */
  int firstStep;
  long bagsPlanned;
  long bagsCommitted;
  long bagsSkipped;
  long bagsRequeued;
  long valPlanned;
  long valScored;
  long valSkipped;
  int workersLost;
  int workersJoined;
  /** Bags trained and their summed loss, as restored from a mid-epoch checkpoint. */
  long trainBags;
  double trainLossSum;

  EpochLedger(int epoch, long generation) {
    this.epoch = epoch;
    generations.add(generation);
  }

  List<String> problems() {
    List<String> p = new ArrayList<>();
    if (bagsCommitted + bagsSkipped != bagsPlanned) {
      p.add(bagsPlanned + " training bags planned but " + bagsCommitted + " trained and " + bagsSkipped
          + " skipped in committed steps");
    }
    if (valScored + valSkipped != valPlanned) {
      p.add(valPlanned + " validation bags planned but " + valScored + " scored and " + valSkipped + " skipped");
    }
    return p;
  }

  /** Keys of a mid-epoch checkpoint's run state that carry this ledger, so a resume goes on with it. */
  static final String PREFIX = "ledger.";

  /** This ledger, and the epoch's {@code trainBags} and {@code lossSum} so far, as run state extras. */
  Map<String, String> saved(int trainBags, double lossSum) {
    Map<String, String> m = new TreeMap<>();
    m.put(PREFIX + "epoch", Integer.toString(epoch));
    m.put(PREFIX + "first-step", Integer.toString(firstStep));
    m.put(PREFIX + "bags-planned", Long.toString(bagsPlanned));
    m.put(PREFIX + "bags-committed", Long.toString(bagsCommitted));
    m.put(PREFIX + "bags-skipped", Long.toString(bagsSkipped));
    m.put(PREFIX + "bags-requeued", Long.toString(bagsRequeued));
    m.put(PREFIX + "workers-lost", Integer.toString(workersLost));
    m.put(PREFIX + "workers-joined", Integer.toString(workersJoined));
    m.put(PREFIX + "first-generation", Long.toString(generations.getFirst()));
    m.put(PREFIX + "train-bags", Integer.toString(trainBags));
    m.put(PREFIX + "train-loss-sum", Double.toString(lossSum));
    return m;
  }

  /** Takes the counts of a mid-epoch checkpoint of this epoch, if {@code extras} hold them. */
  boolean restore(Map<String, String> extras) {
    if (!Integer.toString(epoch).equals(extras.get(PREFIX + "epoch"))) {
      return false;
    }
    firstStep = Integer.parseInt(extras.get(PREFIX + "first-step"));
    bagsPlanned = Long.parseLong(extras.get(PREFIX + "bags-planned"));
    bagsCommitted = Long.parseLong(extras.get(PREFIX + "bags-committed"));
    bagsSkipped = Long.parseLong(extras.get(PREFIX + "bags-skipped"));
    bagsRequeued = Long.parseLong(extras.get(PREFIX + "bags-requeued"));
    workersLost = Integer.parseInt(extras.get(PREFIX + "workers-lost"));
    workersJoined = Integer.parseInt(extras.get(PREFIX + "workers-joined"));
    generations.addFirst(Long.parseLong(extras.get(PREFIX + "first-generation")));
    trainBags = Long.parseLong(extras.get(PREFIX + "train-bags"));
    trainLossSum = Double.parseDouble(extras.get(PREFIX + "train-loss-sum"));
    return true;
  }

  /** {@code extras} without any ledger. */
  static Map<String, String> without(Map<String, String> extras) {
    Map<String, String> m = new TreeMap<>(extras);
    m.keySet().removeIf(k -> k.startsWith(PREFIX));
    return m;
  }

  void into(Map<String, Object> extras) {
    extras.put("ledger_first_step", firstStep);
    extras.put("ledger_bags_planned", bagsPlanned);
    extras.put("ledger_bags_committed", bagsCommitted);
    extras.put("ledger_bags_skipped", bagsSkipped);
    extras.put("ledger_bags_requeued", bagsRequeued);
    extras.put("ledger_val_planned", valPlanned);
    extras.put("ledger_val_scored", valScored);
    extras.put("ledger_val_skipped", valSkipped);
    extras.put("ring_generations", generations.size() == 1 ? generations.getFirst().toString()
        : generations.getFirst() + "-" + generations.getLast());
    extras.put("workers_lost", workersLost);
    extras.put("workers_joined", workersJoined);
  }
}
