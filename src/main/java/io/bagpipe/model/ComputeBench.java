package io.bagpipe.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import java.lang.management.ManagementFactory;
import java.util.Random;

/**
 * Bagpipe's counterpart of the reference pipeline's {@code mil_pipeline.py compute}: train steps of MIL-CNN-S +
 * attention + cross-entropy + SGD(0.01, 0.9, 1e-4) on one fixed random bag (N,3,224,224), one
 * bag per step, no loading. Prints one {@code RESULT} line like the peer's. Not a test.
 *
 * <pre>
 * ./mvnw -q -DskipTests package
 * java --enable-native-access=ALL-UNNAMED -Dai.djl.offline=true [-Dai.djl.pytorch.num_threads=2] \
 *     -cp "target/bagpipe.jar:target/lib/*" io.bagpipe.model.ComputeBench [--bags 32] [--warmup 4] \
 *     [--bag-size 32] [--flat]
 * /usr/bin/python3 bench/mil_pipeline.py compute --bags 32
 * </pre>
 *
 * {@code --flat} adds what a worker does between backward and step: copy the flat gradient out
 * and write it back.
 */
public final class ComputeBench {

  private ComputeBench() {}

  /** Runs the benchmark; see the class comment for the arguments. */
  public static void main(String[] args) {
    int bags = 32;
    int warmup = 4;
    int bagSize = 32;
    boolean flat = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--bags" -> bags = Integer.parseInt(args[++i]);
        case "--warmup" -> warmup = Integer.parseInt(args[++i]);
        case "--bag-size" -> bagSize = Integer.parseInt(args[++i]);
        case "--flat" -> flat = true;
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; use --bags N --warmup N --bag-size N --flat");
      }
    }
    Engine.getInstance(); // loads libtorch, applying ai.djl.pytorch.num_threads / num_interop_threads
    var settings = new ModelSettings(new EncoderSpec.MilCnnS(), PoolingKind.ATTENTION, 32, 2, 0);
    var sgd = new OptimizerSettings(OptimizerKind.SGD, 0.01, 0.9, 1e-4, 0.9, 0.999, 1e-8);
    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    try (NDManager manager = NDManager.newBaseManager();
        TrainingStep step = new TrainingStep(MilModel.build(settings, manager, 224), sgd)) {
      Shape shape = new Shape(bagSize, 3, 224, 224);
      float[] values = new float[Math.toIntExact(shape.size())];
      Random random = new Random(0);
      for (int i = 0; i < values.length; i++) {
        values[i] = random.nextFloat();
      }
      // Like the peer's torch.rand bag, let libtorch allocate it (64-byte aligned); a tensor made from a
      // Java direct buffer starts 16 bytes off a 64-byte boundary.
      NDArray bag;
      try (NDArray fromJava = manager.create(values, shape)) {
        bag = fromJava.duplicate();
      }
      float[] gradient = new float[step.gradientSize()];
      for (int i = 0; i < warmup; i++) {
        trainStep(step, bag, gradient, flat);
      }
      long cpu0 = os.getProcessCpuTime();
      long t0 = System.nanoTime();
      float loss = 0;
      for (int i = 0; i < bags; i++) {
        loss = trainStep(step, bag, gradient, flat);
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      double cpu = (os.getProcessCpuTime() - cpu0) / 1e9;
      System.out.printf("RESULT bagpipe mode=compute%s threads=%d interop=%d bags=%d secs=%.3f bags_per_s=%.3f "
              + "patches_per_s=%.1f cpu_s=%.2f patches_per_cpu_s=%.1f last_loss=%.4f%n",
          flat ? "+flat" : "", JniUtils.getNumThreads(), JniUtils.getNumInteropThreads(), bags, secs, bags / secs,
          bags * bagSize / secs, cpu, bags * bagSize / Math.max(cpu, 1e-9), loss);
    }
  }

  private static float trainStep(TrainingStep step, NDArray bag, float[] gradient, boolean flat) {
    float loss = step.forwardBackward(bag, 1).loss();
    if (flat) {
      step.readGradient(gradient);
      step.writeGradient(gradient);
    }
    step.applyOptimizer();
    return loss;
  }
}
