package io.bagpipe.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.LambdaBlock;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The zoo's instance losses train on feature files (bagpipe.data.features) exactly as on pixels:
 * a model on features (N,D) and the same model behind a parameter-free flatten of (N,3,2,2)
 * patches, from the same seed and bag, give the same training loss and the same gradient (for all
 * but TransMIL, which has none, the loss differs from the bag loss by the instance term). The
 * feature path used to drop the pooling's training extras, so CLAM, max-instance, TransMIL and
 * DSMIL could not train on features at all.
 */
class ZooOnFeaturesTest {

  @ParameterizedTest
  @EnumSource(value = PoolingKind.class, names = {"CLAM_SB", "CLAM_MB", "MAX_INSTANCE", "DSMIL", "TRANSMIL"})
  void trainingOnFeaturesIsTrainingOnTheSamePatches(PoolingKind kind) {
    ZooSettings zoo = new ZooSettings(new ZooSettings.Clam(16, 4, 0.7, false), 0.5,
        new ZooSettings.TransMil(16, 4, 8, 6, 33), 8);
    ModelSettings settings = new ModelSettings(new EncoderSpec.Features(12), kind, 8, 2, 5, zoo, false);
    OptimizerSettings sgd = new OptimizerSettings(OptimizerKind.SGD, 0.01, 0, 0, 0.9, 0.999, 1e-8);
    int patches = 37;
    try (NDManager manager = NDManager.newBaseManager()) {
      MilModel onFeatures = MilModel.build(settings, manager, 0);
      MilModel onPixels = new MilModel(new LambdaBlock(x -> new NDList(
          x.singletonOrThrow().reshape(x.singletonOrThrow().getShape().get(0), -1))), MilPooling.create(settings), 2);
      onPixels.initialize(manager, DataType.FLOAT32, new Shape(patches, 3, 2, 2));
      SeededInit.apply(onPixels, 5);
      NDArray pixels = ModelFixtures.uniform(manager, 23, -1f, 1f, patches, 3, 2, 2);
      NDArray features = pixels.reshape(patches, 12);
      try (TrainingStep a = new TrainingStep(onFeatures, sgd); TrainingStep b = new TrainingStep(onPixels, sgd)) {
        assertEquals(a.gradientSize(), b.gradientSize());
        BagOutput fromFeatures = a.forwardBackward(features, 1);
        BagOutput fromPixels = b.forwardBackward(pixels, 1);
        float bagLoss = a.evaluate(features, 1).loss();
        assertEquals(fromPixels.loss(), fromFeatures.loss(), 1e-6);
        assertTrue(kind == PoolingKind.TRANSMIL || Math.abs(fromFeatures.loss() - bagLoss) > 1e-4,
            kind + ": the training loss on features must include the instance term (" + fromFeatures.loss()
                + " vs bag loss " + bagLoss + ")");
        float[] ga = new float[a.gradientSize()];
        float[] gb = new float[b.gradientSize()];
        a.readGradient(ga);
        b.readGradient(gb);
        assertArrayEquals(gb, ga, 1e-6f);
      }
    }
  }
}
