package io.bagpipe.worker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.bagpipe.allreduce.AllReduce;
import io.bagpipe.allreduce.LocalAllReduce;
import io.bagpipe.bag.BagRef;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.loader.DecodedBag;
import io.bagpipe.model.EncoderSpec;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.OptimizerSettings;
import io.bagpipe.model.PoolingKind;
import io.bagpipe.model.RunningStatistics;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * ResNet-18 replicas (BatchNorm in every block) that train different bags stay bit-identical
 * through the all-reduce, running statistics included, and the digest sees those statistics.
 */
class BatchNormReplicasTest {

  static final int P = 32;

  static DjlReplica resNet18() {
    return new DjlReplica(new ModelSettings(EncoderSpec.named("resnet18", null), PoolingKind.named("attention"), 16, 2, 5),
        OptimizerSettings.fromConfig(DjlReplicaTest.CONFIG.getConfig("bagpipe.optimizer")),
        WorkerSettings.fromConfig(DjlReplicaTest.CONFIG.getConfig("bagpipe.worker"), 0), "cpu", P);
  }

  static DecodedBag bag(int seed, int label) {
    int patches = 3;
    ByteBuffer px = ByteBuffer.allocateDirect(patches * P * P * 3);
    java.util.Random r = new java.util.Random(seed);
    while (px.hasRemaining()) {
      px.put((byte) (r.nextInt(256) / (1 + seed % 3)));
    }
    return DecodedBag.inMemory(new BagRef("s" + seed, "s.tif", label, new int[2 * patches], P, 0, 0, seed), px);
  }

  static float[] statistics(DjlReplica r) {
    RunningStatistics s = r.statistics();
    float[] v = new float[s.size()];
    s.read(v, 0);
    return v;
  }

  /**
   * One step through a real in-JVM all-reduce: replica i trains {@code bags.get(i)}. Returns each
   * replica's own running statistics after its bags, before the average replaced them.
   */
  static List<float[]> step(List<DjlReplica> replicas, List<List<DecodedBag>> bags, long round, LocalAllReduce ring)
      throws Exception {
    List<CompletableFuture<AllReduce.Reduced>> results = new ArrayList<>();
    List<float[]> own = new ArrayList<>();
    for (int i = 0; i < replicas.size(); i++) {
      DjlReplica r = replicas.get(i);
      for (DecodedBag b : bags.get(i)) {
        r.accumulate(b);
      }
      own.add(statistics(r));
      float[] flat = new float[r.gradientLength()];
      r.gradient(flat);
      results.add(ring.reduce(i, round, flat, bags.get(i).size(), false).toCompletableFuture());
    }
    for (int i = 0; i < replicas.size(); i++) {
      replicas.get(i).apply(results.get(i).get().average(), 0);
    }
    return own;
  }

  @Test
  void replicasWithDifferentBagsEndWithTheWeightedAverageOfTheirRunningStatistics() throws Exception {
    try (DjlReplica a = resNet18(); DjlReplica b = resNet18(); DjlReplica idle = resNet18()) {
      RunningStatistics stats = a.statistics();
      assertEquals(9600, stats.size(), "ResNet-18 has 4,800 running means and as many variances");
      assertEquals(a.gradientLength(), b.gradientLength());
      assertEquals(a.parameterDigest(), idle.parameterDigest());

      float[] start = statistics(idle);
      List<float[]> own = step(List.of(a, b, idle), List.of(List.of(bag(1, 0), bag(2, 1)), List.of(bag(3, 1)),
          List.of()), 0, new LocalAllReduce(3));
      float[] aloneA = own.get(0);
      float[] aloneB = own.get(1);
      assertArrayEquals(start, own.get(2), "a replica without bags did not move");

      float[] sa = statistics(a);
      assertArrayEquals(sa, statistics(b));
      assertArrayEquals(sa, statistics(idle));
      assertEquals(a.parameterDigest(), b.parameterDigest());
      assertEquals(a.parameterDigest(), idle.parameterDigest());
      int moved = 0;
      for (int k = 0; k < sa.length; k++) {
        double expected = (2.0 * aloneA[k] + aloneB[k]) / 3; // weights 2, 1 and 0
        assertEquals(expected, sa[k], 1e-5 * Math.max(1, Math.abs(expected)), stats.names() + " value " + k);
        moved += aloneA[k] != aloneB[k] ? 1 : 0;
      }
      assertEquals(true, moved > sa.length / 2, "the replicas' own statistics differed in " + moved + " values");
    }
  }

  @Test
  void theDigestCoversRunningStatisticsAndADroppedStepPutsThemBack() {
    try (DjlReplica a = resNet18(); DjlReplica b = resNet18()) {
      long digest = a.parameterDigest();
      // Perturb one running variance by one ulp on one replica: the digest must see it.
      List<NamedTensor> params = a.parameters();
      List<NamedTensor> perturbed = new ArrayList<>();
      for (NamedTensor t : params) {
        float[] d = t.data().clone();
        if (t.name().endsWith("runningVar") && perturbed.stream().noneMatch(p -> p.name().endsWith("runningVar"))) {
          d[0] = Math.nextUp(d[0]);
        }
        perturbed.add(new NamedTensor(t.name(), t.shape(), d));
      }
      b.load(perturbed, a.optimizerState());
      assertNotEquals(digest, b.parameterDigest(), "a running statistic one ulp off changes the digest");
      b.load(params, a.optimizerState());
      assertEquals(digest, b.parameterDigest());

      // A step that is dropped (its ring broke) leaves no trace in the running statistics.
      float[] before = statistics(b);
      b.accumulate(bag(4, 0));
      assertNotEquals(before[0], statistics(b)[0]);
      b.discard();
      assertArrayEquals(before, statistics(b));
      assertEquals(digest, b.parameterDigest());
    }
  }
}
