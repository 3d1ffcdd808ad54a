package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.coordinator.EpochRecord;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run with the patch cache trains the same parameters as one without, and its epoch records show the cache. */
class CachedRunTest {

  @Test
  void theCacheChangesNoParameterAndServesTheSecondEpoch(@TempDir Path dir) throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    // one bag of every patch per slide: epoch 2 asks for exactly the patches of epoch 1
    String[] common = {"bagpipe.train.epochs=2", "bagpipe.plan.bag-size=all", "bagpipe.plan.bag-num=1"};
    RunTest.Recorder off = new RunTest.Recorder();
    RunTest.run(Bagpipe.start(TrainingFixtures.config(data, dir.resolve("off"), common)), off);
    RunTest.Recorder on = new RunTest.Recorder();
    RunTest.run(Bagpipe.start(TrainingFixtures.config(data, dir.resolve("on"),
        concat(common, "bagpipe.loader.cache.budget=64 MiB"))), on);

    List<NamedTensor> a = RunTest.latest(dir.resolve("off")).parameters();
    List<NamedTensor> b = RunTest.latest(dir.resolve("on")).parameters();
    assertEquals(a.size(), b.size());
    for (int i = 0; i < a.size(); i++) {
      assertArrayEquals(a.get(i).data(), b.get(i).data(), a.get(i).name() + " is the same with the cache");
    }

    List<EpochRecord> offRecords = off.of(RunEvent.EpochCompleted.class).stream().map(e -> e.record()).toList();
    List<EpochRecord> onRecords = on.of(RunEvent.EpochCompleted.class).stream().map(e -> e.record()).toList();
    assertFalse(offRecords.getFirst().extras().containsKey("cache_hit_rate"), "no cache, no hit rate");
    assertTrue(((Number) offRecords.getFirst().extras().get("decode_ms")).doubleValue() > 0);
    Object first = onRecords.get(0).extras().get("cache_hit_rate");
    Object second = onRecords.get(1).extras().get("cache_hit_rate");
    assertEquals(0.0, ((Number) first).doubleValue(), "epoch 1 reads every patch once");
    assertEquals(1.0, ((Number) second).doubleValue(), "epoch 2 is served from the cache");
    long bytes = ((Number) onRecords.get(1).extras().get("cache_bytes")).longValue();
    long patches = ((Number) onRecords.get(1).extras().get("cache_hits")).longValue();
    int p = TrainingFixtures.PATCH;
    // training and validation patches are cached: at least the training ones, and all within the budget
    assertTrue(bytes >= patches * p * p * 3 && bytes <= 64L << 20, bytes + " bytes for " + patches + " patches");
    assertEquals(offRecords.getLast().extras().get("replica_digest"), onRecords.getLast().extras().get("replica_digest"));
  }

  static String[] concat(String[] a, String... b) {
    String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, r, a.length, b.length);
    return r;
  }
}
