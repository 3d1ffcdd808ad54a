package io.bagpipe.predict;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.CheckpointSettings;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.ZooSettings;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A trained model as a checkpoint holds it: the model's settings, the patch size, pyramid level
 * and normalisation it was trained with, and its parameters.
 *
 * <p>A run records these settings in every checkpoint's run state (extras {@code encoder},
 * {@code pooling}, {@code classes}, {@code attention_dim}, {@code torchscript_path},
 * {@code patch_size}, {@code level}, {@code normalize_mean}, {@code normalize_std}). A checkpoint
 * written before some of them were recorded takes the missing ones from the configuration
 * ({@code bagpipe.model.*}, {@code bagpipe.plan.patch-size}, {@code bagpipe.plan.level},
 * {@code bagpipe.worker.normalize}); {@link #fromConfiguration} names them. The zoo's
 * hyper-parameters (extras {@code model.clam.hidden-dim}, {@code model.transmil.dim}, ...: every key of
 * {@link ZooSettings#KEYS}) are always taken from the checkpoint, so a configuration that says otherwise
 * cannot change the architecture; a checkpoint older than those records gets reference.conf's values
 * ({@link #fromReference} names them).
 *
 * @param source the checkpoint file read
 * @param model encoder, pooling, attention size and classes
 * @param patchSize side of the square patches, pixels at {@code level}
 * @param level pyramid level patches are read at (coordinates are level 0)
 * @param targetMpp microns per pixel patches are read at, resized from the best level; 0: read at {@code level}
 * @param classNames the run's class map: class names in index order ({@code "0"}, {@code "1"}, ... for
 *     integer labels)
 * @param mean per-channel mean subtracted after scaling pixels to [0, 1]
 * @param std per-channel standard deviation divided by
 * @param parameters the model's parameters in checkpoint order
 * @param epoch the epoch position the checkpoint was written at
 * @param fromConfiguration settings the checkpoint did not record, taken from the configuration
 * @param fromReference zoo hyper-parameters the checkpoint did not record (written before they were), taken from
 *     reference.conf's defaults and never from the configuration
 */
public record TrainedModel(Path source, ModelSettings model, int patchSize, int level, double targetMpp,
    List<String> classNames, float[] mean, float[] std, List<NamedTensor> parameters, int epoch,
    List<String> fromConfiguration, List<String> fromReference) {

  public TrainedModel {
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(model, "model");
    parameters = List.copyOf(parameters);
    fromConfiguration = List.copyOf(fromConfiguration);
    fromReference = List.copyOf(fromReference);
    classNames = List.copyOf(classNames);
    if (classNames.size() != model.classes()) {
      throw new IllegalArgumentException(source + ": records " + classNames.size() + " class names " + classNames
          + " for a model of " + model.classes() + " classes");
    }
    if (patchSize < 1 || level < 0 || mean.length != 3 || std.length != 3) {
      throw new IllegalArgumentException(source + ": bad recorded model: patch size " + patchSize + ", level " + level);
    }
  }

  /**
   * Loads the model of {@code from}: a checkpoint file, or a run directory (its checkpoint
   * folder's {@code best.ckpt} when there is one, else its newest versioned checkpoint), or a
   * checkpoint folder itself. Nothing in the run directory is changed. {@code config} supplies the checkpoint folder name
   * ({@code bagpipe.checkpoint.dir}) and settings the checkpoint does not record.
   *
   * @throws IllegalArgumentException when {@code from} holds no checkpoint, naming what was looked at
   * @throws UncheckedIOException when the checkpoint cannot be read or is corrupt, naming the file
   */
  public static TrainedModel load(Path from, Config config) {
    Path file = resolve(from, CheckpointSettings.fromConfig(config.getConfig("bagpipe.checkpoint")));
    Checkpoint checkpoint;
    try {
      checkpoint = CheckpointStore.read(file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the checkpoint " + file + ": " + e.getMessage(), e);
    }
    Map<String, String> extras = checkpoint.state().extras();
    List<String> missing = new ArrayList<>();
    Map<String, Object> model = new LinkedHashMap<>();
    recorded(extras, "encoder", "encoder", model, missing);
    recorded(extras, "pooling", "pooling", model, missing);
    recorded(extras, "classes", "classes", model, missing);
    recorded(extras, "attention_dim", "attention-dim", model, missing);
    recorded(extras, "torchscript_path", "torchscript-path", model, missing);
    // The zoo's hyper-parameters shape the model: never taken from the user's configuration. A checkpoint
    // written before they were recorded gets reference.conf's values, as its run did unless it overrode them.
    List<String> defaults = new ArrayList<>();
    Config reference = ConfigFactory.defaultReference().getConfig("bagpipe.model");
    for (String key : ZooSettings.KEYS) {
      String v = extras.get("model." + key);
      if (v == null) {
        defaults.add("bagpipe.model." + key);
        model.put(key, reference.getValue(key).unwrapped());
      } else {
        model.put(key, v);
      }
    }
    Config b = config.getConfig("bagpipe");
    ModelSettings settings;
    try {
      settings = ModelSettings.fromConfig(ConfigFactory.parseMap(model, "checkpoint " + file).withFallback(b.getConfig("model")));
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("the checkpoint " + file + " records a model this build cannot make: "
          + e.getMessage(), e);
    }
    int patchSize = integer(extras, "patch_size", b, "plan.patch-size", missing, file);
    int level = integer(extras, "level", b, "plan.level", missing, file);
    float[] mean = floats(extras, "normalize_mean", b, "worker.normalize.mean", missing, file);
    float[] std = floats(extras, "normalize_std", b, "worker.normalize.std", missing, file);
    double targetMpp;
    if (extras.containsKey("target_mpp")) {
      targetMpp = Double.parseDouble(extras.get("target_mpp"));
    } else {
      missing.add("bagpipe.plan.target-mpp");
      targetMpp = b.getDouble("plan.target-mpp");
    }
    List<String> names = extras.containsKey("class_map") ? List.of(extras.get("class_map").split(","))
        : java.util.stream.IntStream.range(0, settings.classes()).mapToObj(Integer::toString).toList();
    return new TrainedModel(file, settings, patchSize, level, targetMpp, names, mean, std, checkpoint.parameters(),
        checkpoint.state().epoch(), missing, defaults);
  }

  /** The checkpoint file {@code from} names; see {@link #load}. */
  static Path resolve(Path from, CheckpointSettings checkpoints) {
    if (Files.isRegularFile(from)) {
      return from;
    }
    if (!Files.isDirectory(from)) {
      throw new IllegalArgumentException("no checkpoint at " + from + ": give a .ckpt file or a run directory (--checkpoint)");
    }
    List<Path> folders = List.of(checkpoints.resolveDir(from), from);
    for (Path dir : folders) {
      Path best = dir.resolve("best.ckpt");
      if (Files.isRegularFile(best)) {
        return best;
      }
      try {
        List<Path> versions = new CheckpointStore(dir, 1).versionedFiles(); // reads only: nothing is moved aside
        if (!versions.isEmpty()) {
          return versions.getFirst();
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot list the checkpoints in " + dir + ": " + e.getMessage(), e);
      }
    }
    throw new IllegalArgumentException("no checkpoint in " + from + " or " + checkpoints.resolveDir(from)
        + " (looked for best.ckpt, then epoch-*-step-*.ckpt); has the run saved one yet?");
  }

  private static void recorded(Map<String, String> extras, String extra, String key, Map<String, Object> into,
      List<String> missing) {
    String v = extras.get(extra);
    if (v == null) {
      missing.add("bagpipe.model." + key);
    } else {
      into.put(key, v);
    }
  }

  private static int integer(Map<String, String> extras, String extra, Config b, String key, List<String> missing,
      Path file) {
    String v = extras.get(extra);
    if (v == null) {
      missing.add("bagpipe." + key);
      return b.getInt(key);
    }
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("the checkpoint " + file + " records " + extra + " = '" + v + "', not an integer");
    }
  }

  private static float[] floats(Map<String, String> extras, String extra, Config b, String key, List<String> missing,
      Path file) {
    String v = extras.get(extra);
    float[] out = new float[3];
    if (v == null) {
      missing.add("bagpipe." + key);
      List<Double> d = b.getDoubleList(key);
      if (d.size() != 3) {
        throw new IllegalArgumentException("bagpipe." + key + " needs three values (R, G, B), got " + d);
      }
      for (int i = 0; i < 3; i++) {
        out[i] = d.get(i).floatValue();
      }
      return out;
    }
    String[] parts = v.split(",");
    try {
      if (parts.length != 3) {
        throw new NumberFormatException();
      }
      for (int i = 0; i < 3; i++) {
        out[i] = Float.parseFloat(parts[i].trim());
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("the checkpoint " + file + " records " + extra + " = '" + v
          + "', not three numbers");
    }
    return out;
  }
}
