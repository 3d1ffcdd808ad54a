package io.bagpipe.export;

import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.serialization.Json;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Exports a checkpoint's model for PyTorch: {@code model.safetensors} (the parameters under the
 * state-dict names of {@code bagpipe_mil.py}, see {@link TorchNames}), {@code config.json} (what
 * the forward pass needs: encoder, pooling, classes, patch size, input normalisation) and
 * {@code bagpipe_mil.py}, the reference module that rebuilds the model from the two.
 *
 * <p>The model settings come from the checkpoint's {@link RunState} extras, which every run
 * records: {@code encoder}, {@code pooling}, {@code classes}, {@code patch_size},
 * {@code normalize_mean} and {@code normalize_std} (the last two since export exists; older
 * checkpoints need them given). The attention size (and CLAM's hidden size) is read off the
 * pooling's weights.
 *
 * @param encoder {@code mil-cnn-s}, {@code resnet18} or {@code resnet50}
 * @param pooling {@code attention}, {@code gated-attention}, {@code mean}, {@code max}, {@code clam-sb},
 *     {@code clam-mb}, {@code max-instance}, {@code dsmil} or {@code transmil}
 * @param classes outputs of the head
 * @param patchSize side of a patch in pixels
 * @param mean per-channel mean subtracted after scaling pixels to [0, 1]
 * @param std per-channel standard deviation divided by after that
 * @param classNames one name per class, or empty when unknown
 */
public record ModelExport(String encoder, String pooling, int classes, int patchSize, float[] mean, float[] std,
    List<String> classNames) {

  /** The files an export writes. */
  public static final String WEIGHTS = "model.safetensors";
  public static final String CONFIG = "config.json";
  public static final String MODULE = "bagpipe_mil.py";

  /** The {@code bagpipe.model.pooling} values whose models bagpipe_mil.py rebuilds. */
  static final List<String> EXPORTABLE_POOLINGS =
      List.of("attention", "gated-attention", "mean", "max", "clam-sb", "clam-mb", "max-instance", "dsmil",
          "transmil");

  public ModelExport {
    Objects.requireNonNull(encoder, "encoder");
    Objects.requireNonNull(pooling, "pooling");
    classNames = List.copyOf(classNames);
    if (mean.length != 3 || std.length != 3) {
      throw new IllegalArgumentException("normalisation mean and std need three values (R, G, B), got "
          + Arrays.toString(mean) + " and " + Arrays.toString(std));
    }
    if (!classNames.isEmpty() && classNames.size() != classes) {
      throw new IllegalArgumentException(classNames.size() + " class names " + classNames + " for a model of "
          + classes + " classes");
    }
  }

  /**
   * The settings recorded in {@code state}, with {@code mean} / {@code std} filling in for a
   * checkpoint that predates their recording (null: required from the checkpoint).
   *
   * @throws IllegalArgumentException naming {@code source} and the missing extra
   */
  public static ModelExport of(RunState state, Path source, float[] mean, float[] std, List<String> classNames) {
    Map<String, String> x = state.extras();
    String encoder = required(x, "encoder", source);
    if (encoder.equals("torchscript")) {
      throw new IllegalArgumentException(source + " holds a model with a TorchScript encoder"
          + " (bagpipe.model.encoder = torchscript); export writes mil-cnn-s, resnet18 and resnet50 models only."
          + " Its parameters are in the checkpoint under the TorchScript module's own names");
    }
    String pooling = required(x, "pooling", source);
    if (!EXPORTABLE_POOLINGS.contains(pooling)) {
      throw new IllegalArgumentException(source + " holds a model with " + pooling + " pooling"
          + " (bagpipe.model.pooling = " + pooling + "); export writes attention, gated-attention, mean, max, clam-sb,"
          + " clam-mb, max-instance, dsmil and transmil models only (docs/export.md)");
    }
    if (pooling.equals("transmil")) { // two sizes that no weight's shape tells
      for (String key : List.of("model.transmil.landmarks", "model.transmil.pinv-iterations")) {
        if (!x.containsKey(key)) {
          throw new IllegalArgumentException(source + " holds a transmil model but does not record " + key
              + " (written before Bagpipe recorded the zoo's hyper-parameters); bagpipe predict rebuilds it with"
              + " reference.conf's values, export needs them recorded");
        }
        integer(x, key, source);
      }
    }
    float[] m = x.containsKey("normalize_mean") ? floats(x.get("normalize_mean"), "normalize_mean", source) : mean;
    float[] s = x.containsKey("normalize_std") ? floats(x.get("normalize_std"), "normalize_std", source) : std;
    if (m == null || s == null) {
      throw new IllegalArgumentException(source + " does not record the input normalisation (written before Bagpipe"
          + " recorded it): give the run's bagpipe.worker.normalize values with --mean R,G,B --std R,G,B");
    }
    // The run's class map (manifest class names, or 0..k-1), unless the caller names the classes.
    List<String> names = classNames.isEmpty() && x.containsKey("class_map")
        ? List.of(x.get("class_map").split(",")) : classNames;
    return new ModelExport(encoder, pooling, integer(x, "classes", source),
        integer(x, "patch_size", source), m, s, names);
  }

  /**
   * Writes the three files into {@code out} (created if needed) from {@code checkpoint}'s
   * parameters.
   *
   * @return the state-dict names written, in file order
   * @throws IllegalArgumentException when a parameter does not belong to this model
   */
  public List<String> write(Checkpoint checkpoint, Path source, Path out) throws IOException {
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    Map<String, String> names = new LinkedHashMap<>();
    int attentionDim = 0;
    int hiddenDim = 0;
    int heads = 0;
    int kernel = 0;
    for (NamedTensor t : checkpoint.parameters()) {
      String name = TorchNames.of(t.name(), encoder);
      names.put(t.name(), name);
      tensors.add(new SafeTensors.F32(name, t.shape(), t.data()));
      if (name.equals("pooling.V.weight") || name.equals("pooling.att.V.weight")) {
        attentionDim = (int) t.shape()[0];
      }
      if (name.equals("pooling.fc.weight") || name.equals("pooling.q1.weight")) { // CLAM's, TransMIL's projection; DSMIL's queries
        hiddenDim = (int) t.shape()[0];
      }
      if (name.equals("pooling.attn1.res.weight")) { // TransMIL: (heads, 1, residual kernel, 1)
        heads = (int) t.shape()[0];
        kernel = (int) t.shape()[2];
      }
      if (name.endsWith(".running_var")) { // PyTorch's BatchNorm2d also has this buffer; eval mode ignores it
        String tracked = name.substring(0, name.length() - "running_var".length()) + "num_batches_tracked";
        tensors.add(new SafeTensors.I64(tracked, new long[0], new long[] {checkpoint.state().globalStep()}));
      }
    }
    if ((pooling.contains("attention") || pooling.startsWith("clam") || pooling.equals("max-instance"))
        && attentionDim == 0) {
      throw new IllegalArgumentException(source + " records " + pooling + " pooling but holds no attention weights");
    }
    Files.createDirectories(out);
    RunState s = checkpoint.state();
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put("format", "pt");
    metadata.put("bagpipe_checkpoint", String.valueOf(source.getFileName()));
    metadata.put("epoch", Integer.toString(s.epoch()));
    metadata.put("global_step", Long.toString(s.globalStep()));
    SafeTensors.write(out.resolve(WEIGHTS), tensors, metadata);
    Files.writeString(out.resolve(CONFIG), configJson(s, source, attentionDim, hiddenDim, heads, kernel, names), StandardCharsets.UTF_8);
    try (InputStream module = ModelExport.class.getResourceAsStream(MODULE)) {
      if (module == null) {
        throw new IllegalStateException(MODULE + " is missing from Bagpipe's jar (io/bagpipe/export/)");
      }
      Files.copy(module, out.resolve(MODULE), StandardCopyOption.REPLACE_EXISTING);
    }
    return tensors.stream().map(SafeTensors.Tensor::name).toList();
  }

  private String configJson(RunState s, Path source, int attentionDim, int hiddenDim, int heads, int kernel,
      Map<String, String> names) {
    StringBuilder b = new StringBuilder("{\n");
    b.append("  \"format_version\": 1,\n");
    b.append("  \"encoder\": ").append(Json.quote(encoder)).append(",\n");
    b.append("  \"pooling\": ").append(Json.quote(pooling)).append(",\n");
    b.append("  \"attention_dim\": ").append(attentionDim).append(",\n");
    if (pooling.startsWith("clam")) {
      b.append("  \"hidden_dim\": ").append(hiddenDim).append(",\n");
    }
    if (pooling.equals("dsmil")) {
      b.append("  \"query_dim\": ").append(hiddenDim).append(",\n");
    }
    if (pooling.equals("transmil")) {
      b.append("  \"transmil\": {\"dim\": ").append(hiddenDim).append(", \"heads\": ").append(heads)
          .append(", \"landmarks\": ").append(s.extras().get("model.transmil.landmarks"))
          .append(", \"pinv_iterations\": ").append(s.extras().get("model.transmil.pinv-iterations"))
          .append(", \"residual_kernel\": ").append(kernel).append("},\n");
    }
    b.append("  \"classes\": ").append(classes).append(",\n");
    b.append("  \"class_names\": ");
    if (classNames.isEmpty()) {
      b.append("null");
    } else {
      b.append('[').append(String.join(", ", classNames.stream().map(Json::quote).toList())).append(']');
    }
    b.append(",\n  \"patch_size\": ").append(patchSize).append(",\n");
    b.append("  \"input\": {\"layout\": \"NHWC\", \"dtype\": \"uint8\", \"channels\": \"RGB\", \"scale\": 255,\n");
    b.append("            \"mean\": ").append(array(mean)).append(", \"std\": ").append(array(std)).append("},\n");
    b.append("  \"batchnorm\": \"eval\",\n");
    b.append("  \"output\": ").append(Json.quote(pooling.equals("dsmil")
        ? "mean of the softmax of the head's logits and the softmax of the per-class maximum instance logits"
        : "softmax over the head's logits; slide probability = mean over its bags")).append(",\n");
    b.append("  \"source\": {\"checkpoint\": ").append(Json.quote(String.valueOf(source.toAbsolutePath())))
        .append(", \"epoch\": ").append(s.epoch()).append(", \"global_step\": ").append(s.globalStep())
        .append(", \"best_metric\": ").append(Json.quote(s.bestMetric())).append(", \"best_value\": ")
        .append(s.hasBest() ? Double.toString(s.bestValue()) : "null").append(", \"best_epoch\": ")
        .append(s.bestEpoch()).append("},\n");
    b.append("  \"parameter_names\": {");
    boolean first = true;
    for (var e : names.entrySet()) {
      b.append(first ? "\n    " : ",\n    ").append(Json.quote(e.getKey())).append(": ")
          .append(Json.quote(e.getValue()));
      first = false;
    }
    return b.append("\n  }\n}\n").toString();
  }

  private static String array(float[] v) {
    return "[" + v[0] + ", " + v[1] + ", " + v[2] + "]";
  }

  private static String required(Map<String, String> extras, String key, Path source) {
    String v = extras.get(key);
    if (v == null) {
      throw new IllegalArgumentException(source + " does not record the model's " + key
          + " (run state extra \"" + key + "\"); was it written by a Bagpipe run?");
    }
    return v;
  }

  private static int integer(Map<String, String> extras, String key, Path source) {
    String v = required(extras, key, source);
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(source + ": run state extra \"" + key + "\" is not an integer: " + v);
    }
  }

  /** Three comma-separated floats, e.g. {@code 0.485,0.456,0.406}. */
  public static float[] floats(String text, String what, Object where) {
    String[] parts = text.split(",");
    if (parts.length != 3) {
      throw new IllegalArgumentException(where + ": " + what + " needs three comma-separated values (R,G,B), got "
          + text);
    }
    float[] out = new float[3];
    for (int i = 0; i < 3; i++) {
      try {
        out[i] = Float.parseFloat(parts[i].trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(where + ": " + what + " value \"" + parts[i] + "\" is not a number");
      }
    }
    return out;
  }
}
