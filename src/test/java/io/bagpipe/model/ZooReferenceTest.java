package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.LambdaBlock;
import io.bagpipe.ExternalTools;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each zoo pooling's training step against an independent PyTorch implementation of the published
 * formulas (src/test/resources/io/bagpipe/model/zoo_reference.py), run by Debian's python3 on the
 * same parameters and the same bag of features: logits, patch weights, loss and every parameter
 * gradient must agree within 1e-5. The encoder is a parameter-free flatten, so the bag (N,3,2,2)
 * is a random feature matrix (N,12) for the pooling.
 */
class ZooReferenceTest {

  static final double TOLERANCE = 1e-5;

  @TempDir
  Path dir;

  /** One check: pooling, classes, patches, label, CLAM subtyping. */
  record Case(String pooling, int classes, int patches, int label, boolean subtyping) {}

  static final List<Case> CASES = List.of(
      new Case("clam-sb", 2, 37, 1, false),
      new Case("clam-sb", 3, 37, 2, true),
      new Case("clam-mb", 3, 37, 0, false),
      new Case("clam-mb", 2, 5, 1, true),
      new Case("max-instance", 3, 37, 1, false),
      new Case("dsmil", 3, 37, 2, false),
      new Case("dsmil", 2, 9, 0, false),
      new Case("transmil", 2, 37, 1, false),
      new Case("transmil", 3, 64, 0, false));

  /** What Bagpipe computed for one case. */
  record Mine(BagOutput out, List<String> names, Map<String, float[]> grads, Path output) {}

  @Test
  void everyZooPoolingMatchesThePyTorchReference() throws Exception {
    ExternalTools.requirePythonTorch();
    StringBuilder cases = new StringBuilder();
    List<Mine> mine = new ArrayList<>();
    for (int c = 0; c < CASES.size(); c++) {
      mine.add(runBagpipe(CASES.get(c), dir.resolve("case" + c), cases));
    }
    Path list = dir.resolve("cases.txt");
    Files.writeString(list, cases.toString());
    Process p = new ProcessBuilder(ExternalTools.PYTHON, ModelFixtures.resource("zoo_reference.py").toString(),
        list.toString()).redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(5, TimeUnit.MINUTES), "python timed out");
    assertEquals(0, p.exitValue(), "reference failed:\n" + log);
    List<String> failures = new ArrayList<>();
    for (int c = 0; c < CASES.size(); c++) {
      Case k = CASES.get(c);
      Mine m = mine.get(c);
      Map<String, float[]> ref = read(m.output());
      double logits = maxDiff(m.out().logits(), ref.get("logits"));
      double weights = maxDiff(m.out().weights(), ref.get("weights"));
      double loss = Math.abs(m.out().loss() - ref.get("loss")[0]);
      double grad = 0;
      double gradScale = 0;
      for (String name : m.names()) {
        float[] theirs = ref.get("grad:" + name);
        assertTrue(theirs != null, "the reference has no gradient for " + name);
        grad = Math.max(grad, maxDiff(m.grads().get(name), theirs));
        for (float g : theirs) {
          gradScale = Math.max(gradScale, Math.abs(g));
        }
      }
      System.out.printf(Locale.ROOT, "zoo-reference %s classes=%d N=%d label=%d subtyping=%s: max|diff| logits %.2e"
          + " weights %.2e loss %.2e gradients %.2e (largest gradient %.2e, %d tensors)%n", k.pooling(), k.classes(),
          k.patches(), k.label(), k.subtyping(), logits, weights, loss, grad, gradScale, m.names().size());
      assertTrue(gradScale > 1e-4, k + ": gradients are all but zero, the comparison would prove nothing");
      if (Math.max(Math.max(logits, weights), Math.max(loss, grad)) > TOLERANCE) {
        failures.add(k + String.format(Locale.ROOT, ": logits %.2e weights %.2e loss %.2e gradients %.2e",
            logits, weights, loss, grad));
      }
    }
    assertTrue(failures.isEmpty(), "differences above " + TOLERANCE + ": " + failures);
  }

  /** Bagpipe's training step on the case; writes the reference's input and adds its line to {@code cases}. */
  private static Mine runBagpipe(Case k, Path dir, StringBuilder cases) throws IOException {
    Files.createDirectories(dir);
    ZooSettings zoo = new ZooSettings(new ZooSettings.Clam(16, 4, 0.7, k.subtyping()), 0.5,
        new ZooSettings.TransMil(16, 4, 8, 6, 33), 8);
    ModelSettings settings = new ModelSettings(new EncoderSpec.MilCnnS(), PoolingKind.named(k.pooling()), 8,
        k.classes(), 3, zoo, false);
    OptimizerSettings sgd = new OptimizerSettings(OptimizerKind.SGD, 0.01, 0, 0, 0.9, 0.999, 1e-8);
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel model = new MilModel(new LambdaBlock(x -> new NDList(
          x.singletonOrThrow().reshape(x.singletonOrThrow().getShape().get(0), -1))), MilPooling.create(settings),
          k.classes());
      model.initialize(manager, DataType.FLOAT32, new Shape(k.patches(), 3, 2, 2));
      SeededInit.apply(model, 3);
      try (TrainingStep step = new TrainingStep(model, sgd)) {
        NDArray bag = ModelFixtures.uniform(manager, 17 + k.patches(), -1f, 1f, k.patches(), 3, 2, 2);
        float[] features = bag.toFloatArray();
        BagOutput out = step.forwardBackward(bag, k.label());
        TrainableParameters params = step.parameters();
        float[] values = new float[params.size()];
        float[] grads = new float[params.size()];
        params.readValues(values);
        step.readGradient(grads);
        StringBuilder in = new StringBuilder();
        line(in, "features", new long[] {k.patches(), 12}, features, 0, features.length);
        Map<String, float[]> byName = new HashMap<>();
        for (int i = 0; i < params.count(); i++) {
          line(in, params.names().get(i), params.array(i).getShape().getShape(), values, params.offset(i),
              params.offset(i + 1));
          byName.put(params.names().get(i), java.util.Arrays.copyOfRange(grads, params.offset(i), params.offset(i + 1)));
        }
        Path input = dir.resolve("input.txt");
        Path output = dir.resolve("output.txt");
        Files.writeString(input, in.toString());
        cases.append(String.join(" ", k.pooling(), input.toString(), output.toString(), Integer.toString(k.classes()),
            Integer.toString(k.label()), "16", "4", "0.7", Boolean.toString(k.subtyping()), "0.5", "16", "4", "8",
            "6", "33", "8")).append('\n');
        return new Mine(out, params.names(), byName, output);
      }
    }
  }

  private static void line(StringBuilder b, String name, long[] shape, float[] v, int from, int to) {
    b.append(name).append('\t');
    for (int i = 0; i < shape.length; i++) {
      b.append(i == 0 ? "" : ",").append(shape[i]);
    }
    b.append('\t');
    for (int i = from; i < to; i++) {
      b.append(i == from ? "" : " ").append(String.format(Locale.ROOT, "%.9e", v[i]));
    }
    b.append('\n');
  }

  private static Map<String, float[]> read(Path file) throws IOException {
    Map<String, float[]> out = new HashMap<>();
    for (String l : Files.readAllLines(file)) {
      String[] parts = l.split("\t");
      String[] vs = parts[1].isBlank() ? new String[0] : parts[1].trim().split(" ");
      float[] f = new float[vs.length];
      for (int i = 0; i < vs.length; i++) {
        f[i] = Float.parseFloat(vs[i]);
      }
      out.put(parts[0], f);
    }
    return out;
  }

  private static double maxDiff(float[] a, float[] b) {
    assertEquals(b.length, a.length, "sizes differ");
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }
}
