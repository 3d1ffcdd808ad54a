package io.bagpipe.cli;

import com.typesafe.config.Config;
import io.bagpipe.bag.BagRef;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.loader.DecodedBag;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.OptimizerSettings;
import io.bagpipe.worker.DjlReplica;
import io.bagpipe.worker.Replica;
import io.bagpipe.worker.WorkerSettings;
import java.nio.ByteBuffer;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe bench gpu}: the checks a GPU replica must pass, beside a CPU replica built from
 * the same seed: one training step on the device whose flat gradient (BatchNorm statistics'
 * changes included) matches the CPU's, parameters that match after both apply the same
 * average, and the device's training bags/s over the CPU's. Every flat copy on the device goes
 * through host staging ({@code model.HostCopies}), so this exercises the path a GPU worker takes.
 * With {@code --device cpu} it runs on any machine (both sides then take the CPU's fast path).
 */
@Command(name = "gpu", mixinStandardHelpOptions = true,
    description = "A training step on a device vs the CPU (same seed, same bag): gradient and update agree, and bags/s.")
final class BenchGpuCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Option(names = "--device", description = "Device to check: gpu0, gpu1, ... or cpu (default: ${DEFAULT-VALUE}).")
  String device = "gpu0";

  @Option(names = "--bags", description = "Measured bags per side (default: ${DEFAULT-VALUE}).")
  int bags = 32;

  @Option(names = "--warmup", description = "Unmeasured bags first, per side (default: ${DEFAULT-VALUE}).")
  int warmup = 4;

  @Option(names = "--bag-size", description = "Patches per bag (default: ${DEFAULT-VALUE}).")
  int bagSize = 32;

  @Option(names = "--patch", description = "Patch side in pixels (default: ${DEFAULT-VALUE}).")
  int patch = 224;

  @Option(names = "--tolerance", description = "Largest relative L2 difference allowed between the device's and the"
      + " CPU's gradient; GPU kernels sum in another order (default: ${DEFAULT-VALUE}).")
  double tolerance = 1e-3;

  @Override
  public Integer call() throws Exception {
    if (bags < 1 || warmup < 0 || bagSize < 1 || patch < 32 || !(tolerance > 0)) {
      throw new IllegalArgumentException("--bags, --bag-size must be positive, --warmup >= 0, --patch >= 32, --tolerance > 0");
    }
    if (!device.matches("cpu|gpu\\d+")) {
      throw new IllegalArgumentException("--device must be cpu or gpuN (gpu0, gpu1, ...), got '" + device + "'");
    }
    Config config = configOptions.load();
    BenchSettings bench = BenchSettings.fromConfig(config.getConfig("bagpipe.bench"));
    ModelSettings model = ModelSettings.fromConfig(config.getConfig("bagpipe.model"));
    OptimizerSettings optimizer = OptimizerSettings.fromConfig(config.getConfig("bagpipe.optimizer"));
    WorkerSettings worker = WorkerSettings.fromConfig(config.getConfig("bagpipe.worker"), 0);
    List<DecodedBag> data = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      data.add(bag(i));
    }

    double gradientDiff;
    double gradientNorm;
    double parameterDiff;
    double[] cpuRate;
    double[] deviceRate;
    try (Replica cpu = new DjlReplica(model, optimizer, worker, "cpu", patch);
        Replica dev = open(model, optimizer, worker)) {
      float[] gc = new float[cpu.gradientLength()];
      float[] gd = new float[dev.gradientLength()];
      cpu.accumulate(data.getFirst());
      cpu.gradient(gc);
      dev.accumulate(data.getFirst());
      dev.gradient(gd);
      gradientNorm = norm(gc, null);
      gradientDiff = norm(gc, gd) / Math.max(gradientNorm, Float.MIN_NORMAL);
      cpu.apply(gc, 0); // the same average on both, as after an all-reduce
      dev.apply(gc, 0);
      parameterDiff = parameterDifference(cpu.parameters(), dev.parameters());
      System.err.printf("bench gpu: step on %s: gradient differs from the CPU's by %.2e (relative L2), parameters by %.2e%n",
          device, gradientDiff, parameterDiff);
      cpuRate = rate(cpu, data);
      deviceRate = rate(dev, data);
    }
    boolean ok = gradientDiff <= tolerance && parameterDiff <= tolerance;
    StringBuilder md = new StringBuilder("# bagpipe bench gpu\n\n")
        .append("- date: ").append(LocalDateTime.now().withNano(0)).append('\n')
        .append("- device: ").append(device).append(" beside cpu; model ").append(model.encoder().name())
        .append(", bag of ").append(bagSize).append(" patches of ").append(patch).append(" px, random pixels\n")
        .append("- one step: the same bag on both replicas, then the CPU's gradient applied to both\n")
        .append("- rate: ").append(warmup).append(" warm-up then ").append(bags)
        .append(" bags (upload, forward, backward, gradient out, update in), one side after the other\n\n")
        .append("| figure | value |\n|---|---|\n")
        .append(String.format("| gradient relative L2 difference | %.3e (limit %.0e) |%n", gradientDiff, tolerance))
        .append(String.format("| parameters after the step, relative L2 difference | %.3e |%n", parameterDiff))
        .append(String.format("| CPU bags/s | %.3f |%n", cpuRate[0]))
        .append(String.format("| %s bags/s | %.3f |%n", device, deviceRate[0]))
        .append(String.format("| **ratio %s / CPU** | **%.2f** |%n", device, deviceRate[0] / cpuRate[0]))
        .append("\nResult: ").append(ok ? "PASS" : "FAIL").append('\n');
    bench.report("gpu", md);
    System.out.printf("RESULT bench_gpu device=%s gradient_rel_diff=%.3e parameter_rel_diff=%.3e cpu_bags_per_s=%.3f"
            + " device_bags_per_s=%.3f ratio=%.3f pass=%s%n",
        device, gradientDiff, parameterDiff, cpuRate[0], deviceRate[0], deviceRate[0] / cpuRate[0], ok);
    return ok ? 0 : 1;
  }

  private Replica open(ModelSettings model, OptimizerSettings optimizer, WorkerSettings worker) {
    try {
      return new DjlReplica(model, optimizer, worker, device, patch);
    } catch (RuntimeException e) {
      throw new IllegalStateException("cannot build a replica on " + device + " (" + e.getMessage() + "); DJL's PyTorch"
          + " needs a CUDA libtorch and its JNI built for it: see deploy/gpu/README.md", e);
    }
  }

  /** {bags/s} of whole training steps on {@code r}. */
  private double[] rate(Replica r, List<DecodedBag> data) {
    float[] g = new float[r.gradientLength()];
    for (int i = 0; i < warmup; i++) {
      step(r, data.get(i % data.size()), g);
    }
    long t0 = System.nanoTime();
    for (int i = 0; i < bags; i++) {
      step(r, data.get(i % data.size()), g);
    }
    return new double[] {bags / ((System.nanoTime() - t0) / 1e9)};
  }

  private static void step(Replica r, DecodedBag bag, float[] g) {
    r.accumulate(bag);
    r.gradient(g);
    r.apply(g, 0);
  }

  private DecodedBag bag(int seed) {
    ByteBuffer pixels = ByteBuffer.allocateDirect(bagSize * patch * patch * 3);
    SplittableRandom rnd = new SplittableRandom(seed);
    while (pixels.hasRemaining()) {
      pixels.put((byte) rnd.nextInt(256));
    }
    return DecodedBag.inMemory(new BagRef("bench-gpu-" + seed, "memory", seed % 2, new int[2 * bagSize], patch, 0, 0, seed),
        pixels);
  }

  /** ||a|| when b is null, else ||a - b||, summed in double. */
  private static double norm(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      double d = b == null ? a[i] : (double) a[i] - b[i];
      s += d * d;
    }
    return Math.sqrt(s);
  }

  private static double parameterDifference(List<NamedTensor> a, List<NamedTensor> b) {
    double diff = 0;
    double total = 0;
    for (int t = 0; t < a.size(); t++) {
      float[] x = a.get(t).data();
      float[] y = b.get(t).data();
      for (int i = 0; i < x.length; i++) {
        diff += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
        total += (double) x[i] * x[i];
      }
    }
    return Math.sqrt(diff) / Math.max(Math.sqrt(total), Float.MIN_NORMAL);
  }
}
