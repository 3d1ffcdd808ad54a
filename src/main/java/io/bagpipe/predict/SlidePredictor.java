package io.bagpipe.predict;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.bagpipe.bag.BagRef;
import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.loader.Loader;
import io.bagpipe.model.BagOutput;
import io.bagpipe.model.BagStream;
import io.bagpipe.model.DeviceNames;
import io.bagpipe.model.MilModel;
import io.bagpipe.model.PixelNormalization;
import io.bagpipe.slide.SlidePool;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One replica of a trained model on one device, predicting one slide at a time. A slide's
 * patches are decoded {@code chunk} at a time into one reused direct buffer (by the loaders'
 * {@link Loader#decodeInto}), uploaded as uint8, normalised on the device and folded into a
 * {@link BagStream}: memory does not grow with the slide beyond a few floats and two ints per patch,
 * except for TransMIL and DSMIL, whose stream keeps every patch's features until the slide's end.
 * Not thread-safe: each prediction thread owns its own.
 */
final class SlidePredictor implements AutoCloseable {

  private final TrainedModel trained;
  private final NDManager manager;
  private final MilModel model;
  private final PixelNormalization normalization;
  private final int chunk;
  private final ByteBuffer pixels;

  /** Builds the model of {@code trained} on {@code device} ({@code cpu} or {@code gpuN}) and loads its parameters. */
  SlidePredictor(TrainedModel trained, String device, int chunk) {
    this.trained = trained;
    this.chunk = chunk;
    this.manager = NDManager.newBaseManager(DeviceNames.of(device));
    try {
      this.model = MilModel.build(trained.model(), manager, trained.patchSize());
      load(model, trained.parameters(), "the checkpoint " + trained.source() + " (" + trained.model() + ")");
      this.normalization = new PixelNormalization(manager, trained.mean(), trained.std());
      this.pixels = ByteBuffer.allocateDirect(Math.multiplyExact(chunk, 3 * trained.patchSize() * trained.patchSize()));
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  /**
   * Copies {@code parameters} into {@code model}'s by name.
   *
   * @throws IllegalArgumentException naming {@code what} and every parameter that is missing, extra or
   *     shaped otherwise
   */
  static void load(MilModel model, List<NamedTensor> parameters, String what) {
    Map<String, NamedTensor> byName = new HashMap<>();
    for (NamedTensor t : parameters) {
      byName.put(t.name(), t);
    }
    List<String> misfits = new ArrayList<>();
    for (Pair<String, Parameter> p : model.getParameters()) {
      NamedTensor t = byName.remove(p.getKey());
      NDArray a = p.getValue().getArray();
      if (t == null) {
        misfits.add("parameter " + p.getKey() + " " + a.getShape() + " is missing");
      } else if (!new Shape(t.shape()).equals(a.getShape())) {
        misfits.add("parameter " + p.getKey() + " has shape " + new Shape(t.shape()) + ", model " + a.getShape());
      } else {
        io.bagpipe.model.HostCopies.write(a, t.data(), 0); // in place, on the CPU or a GPU
      }
    }
    if (!byName.isEmpty()) {
      misfits.add("parameters this model lacks: " + byName.keySet());
    }
    if (!misfits.isEmpty()) {
      throw new IllegalArgumentException(what + " does not fit the model it records: " + String.join("; ", misfits));
    }
  }

  /**
   * Predicts one slide from its patches; the slide is read through {@code slides}.
   *
   * @throws RuntimeException when the slide cannot be read or a patch falls outside it, naming both
   */
  BagOutput predict(String slideId, String slidePath, PatchCoordinates patches, SlidePool slides) {
    int p = trained.patchSize();
    int n = patches.size();
    BagStream stream = new BagStream(model, manager);
    int[] xy = new int[2 * chunk];
    for (int from = 0; from < n; from += chunk) {
      int to = Math.min(n, from + chunk);
      for (int i = from; i < to; i++) {
        xy[2 * (i - from)] = patches.x(i);
        xy[2 * (i - from) + 1] = patches.y(i);
      }
      int[] part = to - from == chunk ? xy : java.util.Arrays.copyOf(xy, 2 * (to - from));
      BagRef ref = new BagRef(slideId, slidePath, 0, part, p, trained.level(), -1, -1, trained.targetMpp());
      pixels.clear();
      Loader.decodeInto(slides, ref, 0, to - from, pixels);
      try (NDManager scope = manager.newSubManager()) {
        pixels.limit((to - from) * 3 * p * p).position(0);
        stream.add(normalization.upload(scope, pixels, to - from, p));
      }
    }
    return stream.finish();
  }

  @Override
  public void close() {
    manager.close();
  }
}
