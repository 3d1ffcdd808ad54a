package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Reading bagpipe.model and bagpipe.optimizer from reference.conf and overrides. */
class ModelSettingsTest {

  static Config config(String overrides) {
    return ConfigFactory.parseString(overrides)
        .withFallback(ConfigFactory.parseResources(ModelSettingsTest.class.getClassLoader(), "reference.conf"))
        .resolve();
  }

  @Test
  void referenceDefaultsAreThePeersModelAndOptimizer() {
    Config c = config("");
    assertEquals(new ModelSettings(new EncoderSpec.MilCnnS(), PoolingKind.ATTENTION, 32, 2, 0),
        ModelSettings.fromConfig(c.getConfig("bagpipe.model")));
    assertEquals(new OptimizerSettings(OptimizerKind.SGD, 0.01, 0.9, 1e-4, 0.9, 0.999, 1e-8),
        OptimizerSettings.fromConfig(c.getConfig("bagpipe.optimizer")));
  }

  @Test
  void overrides() {
    Config c = config("""
        bagpipe.model { encoder = torchscript, torchscript-path = "/models/enc.pt", pooling = gated-attention,
          attention-dim = 128, classes = 3, seed = 9 }
        bagpipe.optimizer { name = adamw, lr = 1e-3, weight-decay = 0.05, betas = [0.8, 0.99], eps = 1e-6 }
        """);
    assertEquals(new ModelSettings(new EncoderSpec.TorchScript(Path.of("/models/enc.pt")),
        PoolingKind.GATED_ATTENTION, 128, 3, 9), ModelSettings.fromConfig(c.getConfig("bagpipe.model")));
    assertEquals(new OptimizerSettings(OptimizerKind.ADAMW, 1e-3, 0.9, 0.05, 0.8, 0.99, 1e-6),
        OptimizerSettings.fromConfig(c.getConfig("bagpipe.optimizer")));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "bagpipe.model.encoder = resnet34 | bagpipe.model.encoder",
      "bagpipe.model.encoder = torchscript | bagpipe.model.encoder",
      "bagpipe.model.pooling = sum | bagpipe.model.pooling",
      "bagpipe.model.classes = 1 | bagpipe.model.classes",
      "bagpipe.model.attention-dim = 0 | bagpipe.model.attention-dim",
  })
  void badModelValuesNameTheirKey(String override, String key) {
    var e = assertThrows(ConfigException.BadValue.class,
        () -> ModelSettings.fromConfig(config(override).getConfig("bagpipe.model")));
    assertTrue(e.getMessage().contains(key), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "bagpipe.optimizer.name = rmsprop | bagpipe.optimizer.name",
      "bagpipe.optimizer.lr = 0 | lr",
      "bagpipe.optimizer.momentum = 1 | momentum",
      "bagpipe.optimizer.betas = [0.9] | bagpipe.optimizer.betas",
  })
  void badOptimizerValuesNameTheirKey(String override, String key) {
    var e = assertThrows(ConfigException.BadValue.class,
        () -> OptimizerSettings.fromConfig(config(override).getConfig("bagpipe.optimizer")));
    assertTrue(e.getMessage().contains(key), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "bagpipe.model.clam.bag-weight = 1.5 | clam.bag-weight",
      "bagpipe.model.clam.k-sample = 0 | clam.k-sample",
      "bagpipe.model.transmil.heads = 5 | transmil.heads",
      "bagpipe.model.transmil.residual-kernel = 4 | transmil.residual-kernel",
      "bagpipe.model.max-instance.weight = -1 | max-instance.weight",
      "bagpipe.model.dsmil.query-dim = 0 | dsmil.query-dim",
  })
  void aBadZooValueNamesItsKey(String override, String key) {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ModelSettings.fromConfig(config(override).getConfig("bagpipe.model")));
    assertTrue(e.getMessage().contains("bagpipe.model." + key), e.getMessage());
  }

  @Test
  void theZooKeysAreRead() {
    ModelSettings s = ModelSettings.fromConfig(config("bagpipe.model { pooling = clam-mb, clam.k-sample = 3,"
        + " clam.subtyping = true, transmil.dim = 64, dsmil.query-dim = 7 }").getConfig("bagpipe.model"));
    assertEquals(PoolingKind.CLAM_MB, s.pooling());
    assertEquals(new ZooSettings.Clam(512, 3, 0.7, true), s.zoo().clam());
    assertEquals(new ZooSettings.TransMil(64, 8, 256, 6, 33), s.zoo().transMil());
    assertEquals(7, s.zoo().dsmilQueryDim());
    assertEquals(0.5, s.zoo().maxInstanceWeight());
  }
}
