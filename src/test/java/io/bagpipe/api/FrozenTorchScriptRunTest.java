package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.bagpipe.ExternalTools;
import io.bagpipe.TrainingFixtures;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.model.EncoderSpec;
import io.bagpipe.model.MilModel;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.PoolingKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recipe of docs/features.md end to end: a torchvision-like encoder (conv, BatchNorm, ReLU,
 * max pool, a residual block, global average pool) is traced with PyTorch to a TorchScript file,
 * and a run with {@code encoder = torchscript} and {@code freeze-encoder = true} trains on it: the
 * checkpoint holds the whole model's parameters, its encoder's bit-identical to the traced file,
 * its pooling and head trained.
 */
class FrozenTorchScriptRunTest {

  @TempDir Path dir;

  static final String TRACE = """
      import sys, torch, torch.nn as nn
      class Block(nn.Module):
          def __init__(self, c):
              super().__init__()
              self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False); self.bn1 = nn.BatchNorm2d(c)
              self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False); self.bn2 = nn.BatchNorm2d(c)
          def forward(self, x):
              return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
      class Net(nn.Module):
          def __init__(self):
              super().__init__()
              self.conv1 = nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False); self.bn1 = nn.BatchNorm2d(8)
              self.maxpool = nn.MaxPool2d(3, stride=2, padding=1); self.layer1 = Block(8)
          def forward(self, x):
              x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
              return torch.flatten(nn.functional.adaptive_avg_pool2d(self.layer1(x), 1), 1)
      torch.manual_seed(3)
      net = Net()
      with torch.no_grad():  # non-trivial running statistics, as a pretrained net has
          for m in net.modules():
              if isinstance(m, nn.BatchNorm2d):
                  m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 1.5)
      net.eval()
      traced = torch.jit.trace(net, torch.rand(1, 3, int(sys.argv[2]), int(sys.argv[2])))
      traced.save(sys.argv[1])
      """;

  @Test
  void aTracedEncoderTrainsFrozenAndTheCheckpointHoldsItUnchanged() throws Exception {
    ExternalTools.requirePythonTorch();
    Path script = Files.writeString(dir.resolve("trace.py"), TRACE);
    Path encoder = dir.resolve("encoder.pt");
    Process p = new ProcessBuilder(ExternalTools.PYTHON, script.toString(), encoder.toString(),
        Integer.toString(TrainingFixtures.PATCH)).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(2, TimeUnit.MINUTES) && p.exitValue() == 0, "tracing failed: " + out);

    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path runDir = dir.resolve("run");
    RunTest.Recorder rec = new RunTest.Recorder();
    RunResult r = RunTest.run(Bagpipe.start(TrainingFixtures.config(data, runDir,
        "bagpipe.model.encoder=torchscript", "bagpipe.model.torchscript-path=" + encoder,
        "bagpipe.model.freeze-encoder=true", "bagpipe.optimizer.lr=0.1")), rec);
    assertEquals(1, r.epochsCompleted());

    var checkpoint = RunTest.latest(runDir);
    assertEquals("true", checkpoint.state().extras().get("freeze_encoder"));
    Map<String, float[]> saved = new HashMap<>();
    for (NamedTensor t : checkpoint.parameters()) {
      saved.put(t.name(), t.data());
    }
    // No optimizer buffer for any encoder parameter.
    for (NamedTensor t : checkpoint.optimizerState()) {
      assertFalse(t.name().startsWith("01encoder"), "optimizer state for " + t.name());
    }
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel fresh = MilModel.build(new ModelSettings(new EncoderSpec.TorchScript(encoder), PoolingKind.ATTENTION,
          32, 2, 0), manager, TrainingFixtures.PATCH);
      int encoderTensors = 0;
      boolean aggregatorMoved = false;
      for (Pair<String, Parameter> param : fresh.getParameters()) {
        float[] then = param.getValue().getArray().toFloatArray();
        float[] now = saved.get(param.getKey());
        assertTrue(now != null, "checkpoint lacks " + param.getKey());
        if (param.getKey().startsWith("01encoder")) {
          assertArrayEquals(then, now, 0f, "frozen encoder parameter " + param.getKey() + " changed");
          encoderTensors++;
        } else if (!java.util.Arrays.equals(then, now)) {
          aggregatorMoved = true;
        }
      }
      // three convolutions and three BatchNorm weight/bias pairs; a TorchScript module's running
      // statistics are buffers, not parameters: they stay in the file and eval mode never updates them
      assertEquals(9, encoderTensors, "encoder tensors in the checkpoint");
      assertTrue(aggregatorMoved, "pooling and head did not train");
    }
    List<String> lines = Files.readAllLines(runDir.resolve("metrics.jsonl"));
    assertEquals(1, lines.size());
  }
}
