package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDManager;
import io.bagpipe.ExternalTools;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link NovogradOptimizer} against MONAI's Novograd update written out in Python and run by torch
 * (fp32), step by step: parameters after each of five steps must agree within 1e-6.
 */
class NovogradTorchTest {

  static final String SCRIPT = """
      import sys, torch
      lr, b1, b2, eps, wd, averaging = 0.01, 0.95, 0.98, 1e-8, 1e-3, sys.argv[1] == "true"
      w = torch.tensor([0.1 * (i - 3.5) for i in range(8)], dtype=torch.float32)
      layers = [slice(0, 6), slice(6, 8)]
      ps = [w[s].clone() for s in layers]
      m = [torch.zeros_like(p) for p in ps]
      v = [torch.zeros([]) for p in ps]
      for k in range(5):
          g = torch.tensor([(((i * 7 + k * 3) % 11) - 5) / 10.0 for i in range(8)], dtype=torch.float32)
          for j, s in enumerate(layers):
              grad = g[s].clone()
              norm = torch.sum(torch.pow(grad, 2))
              if v[j] == 0:
                  v[j].copy_(norm)
              else:
                  v[j].mul_(b2).add_(norm, alpha=1 - b2)
              grad.div_(v[j].sqrt().add_(eps))
              if wd != 0:
                  grad.add_(ps[j], alpha=wd)
              if averaging:
                  grad.mul_(1 - b1)
              m[j].mul_(b1).add_(grad)
              ps[j].add_(m[j], alpha=-lr)
          print(" ".join(repr(x) for x in torch.cat(ps).tolist()))
      """;

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void everyStepMatchesTorch(boolean averaging, @TempDir Path dir) throws Exception {
    ExternalTools.requirePythonTorch();
    Path script = dir.resolve("novograd.py");
    Files.writeString(script, SCRIPT);
    Process p = new ProcessBuilder(ExternalTools.PYTHON, script.toString(), Boolean.toString(averaging))
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(60, TimeUnit.SECONDS);
    assertEquals(0, p.exitValue(), out);
    String[] lines = out.strip().split("\n");
    assertEquals(OptimizerTest.STEPS, lines.length, out);
    OptimizerSettings o = averaging ? OptimizerTest.NOVOGRAD_AVERAGING : OptimizerTest.NOVOGRAD;
    try (NDManager manager = NDManager.newBaseManager()) {
      TrainableParameters params = OptimizerTest.tinyParameters(manager);
      try (Optimizer opt = Optimizer.create(o, params)) {
        for (int k = 0; k < OptimizerTest.STEPS; k++) {
          params.writeGradients(OptimizerTest.grad(k));
          opt.step();
          String[] values = lines[k].trim().split(" ");
          float[] torch = new float[values.length];
          for (int i = 0; i < values.length; i++) {
            torch[i] = Float.parseFloat(values[i]);
          }
          float[] actual = new float[OptimizerTest.N];
          params.readValues(actual);
          assertArrayEquals(torch, actual, 1e-6f, "step " + (k + 1) + ", grad averaging " + averaging);
        }
      }
    }
  }
}
