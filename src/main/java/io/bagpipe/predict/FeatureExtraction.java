package io.bagpipe.predict;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import io.bagpipe.bag.BagRef;
import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.checkpoint.NamedTensor;
import io.bagpipe.features.FeatureFile;
import io.bagpipe.features.FeatureFileException;
import io.bagpipe.loader.Loader;
import io.bagpipe.model.DeviceNames;
import io.bagpipe.model.EncoderSpec;
import io.bagpipe.model.MilModel;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.model.PixelNormalization;
import io.bagpipe.slide.SlidePool;
import io.bagpipe.slide.SlideSettings;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code bagpipe features}: a frozen encoder over every patch of every slide, once, writing one
 * {@link FeatureFile} per slide ({@code OUT/<slide_id>.bpf}) and {@code OUT/errors.csv}.
 *
 * <p>One thread per device holds its own encoder and takes the next slide from a shared counter.
 * A slide's patches go through in chunks of {@code chunk} (decoded by {@link Loader#decodeInto}
 * into one reused buffer, normalised on the device, encoded, appended to the file), so memory
 * holds one chunk of pixels and features plus the slide's coordinates, whatever its patch count.
 * A slide whose feature file already opens as complete is skipped, so a killed run resumes where
 * it stopped; a file appears under its name only once every row is on disk. A slide that fails
 * (unreadable slide, bad coordinates) is listed in {@code errors.csv} and the others go on.
 */
public final class FeatureExtraction {

  private FeatureExtraction() {}

  /**
   * The frozen encoder and how patches are read for it.
   *
   * @param model the model whose encoder runs (only the encoder is used)
   * @param parameters the checkpoint's parameters to load, or empty: the encoder as
   *     {@link MilModel#build} makes it (a TorchScript file's own weights)
   * @param patchSize side of a patch in pixels
   * @param level pyramid level read (0 when {@code targetMpp} > 0)
   * @param targetMpp microns per pixel to read at, or 0
   * @param mean normalisation mean per channel (of pixel/255)
   * @param std normalisation std per channel
   * @param identity what the feature files record of the encoder (name, file digest, checkpoint)
   */
  public record Encoder(ModelSettings model, List<NamedTensor> parameters, int patchSize, int level, double targetMpp,
      float[] mean, float[] std, Map<String, String> identity) {
    public Encoder {
      parameters = List.copyOf(parameters);
      identity = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(identity));
    }

    /** The encoder of a trained model's checkpoint. */
    public static Encoder of(TrainedModel trained) {
      Map<String, String> id = new LinkedHashMap<>();
      id.put("encoder", trained.model().encoder().name());
      id.put("checkpoint", trained.source().toAbsolutePath().toString());
      id.put("checkpoint_sha256", sha256(trained.source()));
      if (trained.model().encoder() instanceof EncoderSpec.TorchScript(Path p)) {
        id.put("torchscript_path", p.toAbsolutePath().toString());
      }
      return new Encoder(trained.model(), trained.parameters(), trained.patchSize(), trained.level(),
          trained.targetMpp(), trained.mean(), trained.std(), id);
    }

    /** The encoder that {@code model} builds from configuration (a TorchScript file, or seeded). */
    public static Encoder of(ModelSettings model, int patchSize, int level, double targetMpp, float[] mean,
        float[] std) {
      Map<String, String> id = new LinkedHashMap<>();
      id.put("encoder", model.encoder().name());
      if (model.encoder() instanceof EncoderSpec.TorchScript(Path p)) {
        id.put("torchscript_path", p.toAbsolutePath().toString());
        id.put("torchscript_sha256", sha256(p));
      } else {
        id.put("seed", Long.toString(model.seed()));
      }
      return new Encoder(model, List.of(), patchSize, level, targetMpp, mean, std, id);
    }

    /** The metadata a feature file records. */
    Map<String, String> metadata(String slideId) {
      Map<String, String> m = new LinkedHashMap<>(identity);
      m.put("slide_id", slideId);
      m.put("patch_size", Integer.toString(patchSize));
      m.put("level", Integer.toString(level));
      m.put("target_mpp", Double.toString(targetMpp));
      m.put("normalize_mean", mean[0] + "," + mean[1] + "," + mean[2]);
      m.put("normalize_std", std[0] + "," + std[1] + "," + std[2]);
      return m;
    }
  }

  static String sha256(Path file) {
    try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
      in.transferTo(java.io.OutputStream.nullOutputStream());
      return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + " to record its SHA-256", e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** What a run did: slides written, skipped (complete already) and failed (slide id, reason). */
  public record Summary(List<String> written, List<String> skipped, Map<String, String> failed) {}

  /**
   * Extracts features of {@code tasks} into {@code out} on {@code devices}.
   *
   * @param listener told of each slide as it finishes, as prediction's is
   * @throws IOException when an output file cannot be written
   */
  public static Summary run(Encoder encoder, List<SlideTask> tasks, PatchSource source, SlideSettings slideSettings,
      List<String> devices, int chunk, Path out, Prediction.Listener listener) throws IOException {
    Files.createDirectories(out);
    List<String> written = java.util.Collections.synchronizedList(new ArrayList<>());
    List<String> skipped = java.util.Collections.synchronizedList(new ArrayList<>());
    Map<String, String> failed = java.util.Collections.synchronizedMap(new LinkedHashMap<>());
    AtomicInteger next = new AtomicInteger();
    AtomicInteger finished = new AtomicInteger();
    try (BufferedWriter errors = Files.newBufferedWriter(out.resolve("errors.csv"), StandardCharsets.UTF_8);
        SlidePool slides = new SlidePool(slideSettings);
        ExecutorService pool = Executors.newFixedThreadPool(devices.size(), r -> {
          Thread t = new Thread(r, "features");
          t.setDaemon(true);
          return t;
        })) {
      errors.write("slide_id,error\n");
      errors.flush();
      List<Future<?>> threads = new ArrayList<>();
      for (String device : devices) {
        threads.add(pool.submit(() -> {
          try (Worker w = new Worker(encoder, device, chunk)) {
            for (int i = next.getAndIncrement(); i < tasks.size(); i = next.getAndIncrement()) {
              SlideTask task = tasks.get(i);
              Path file = out.resolve(task.slideId() + FeatureFile.EXTENSION);
              String error = null;
              if (complete(file)) {
                skipped.add(task.slideId());
              } else {
                try {
                  w.extract(task, source, slides, file);
                  written.add(task.slideId());
                } catch (IOException | RuntimeException e) {
                  error = e.getMessage() == null ? e.toString() : e.getMessage();
                  failed.put(task.slideId(), error);
                  synchronized (errors) {
                    errors.write(Prediction.csv(task.slideId()) + "," + Prediction.csv(error) + "\n");
                    errors.flush();
                  }
                }
              }
              synchronized (listener) {
                listener.slideDone(finished.incrementAndGet(), tasks.size(), task.slideId(), error);
              }
            }
          }
          return null;
        }));
      }
      for (Future<?> t : threads) {
        t.get();
      }
    } catch (ExecutionException e) {
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException("feature extraction failed: " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while extracting features", e);
    }
    return new Summary(List.copyOf(written), List.copyOf(skipped), Map.copyOf(failed));
  }

  /** Whether {@code file} is a whole feature file (a partial one never has the final name). */
  static boolean complete(Path file) {
    if (!Files.isRegularFile(file)) {
      return false;
    }
    try {
      FeatureFile.open(file);
      return true;
    } catch (FeatureFileException e) {
      return false;
    }
  }

  /** One device's encoder. */
  private static final class Worker implements AutoCloseable {
    private final Encoder encoder;
    private final NDManager manager;
    private final MilModel model;
    private final ParameterStore store;
    private final PixelNormalization normalization;
    private final int chunk;
    private final ByteBuffer pixels;

    Worker(Encoder encoder, String device, int chunk) {
      this.encoder = encoder;
      this.chunk = chunk;
      this.manager = NDManager.newBaseManager(DeviceNames.of(device));
      try {
        this.model = MilModel.build(encoder.model(), manager, encoder.patchSize());
        if (!encoder.parameters().isEmpty()) {
          SlidePredictor.load(model, encoder.parameters(), "the checkpoint's encoder (" + encoder.model() + ")");
        }
        this.store = new ParameterStore(manager, false);
        this.normalization = new PixelNormalization(manager, encoder.mean(), encoder.std());
        this.pixels = ByteBuffer.allocateDirect(Math.multiplyExact(chunk, 3 * encoder.patchSize() * encoder.patchSize()));
      } catch (RuntimeException e) {
        manager.close();
        throw e;
      }
    }

    void extract(SlideTask task, PatchSource source, SlidePool slides, Path file) throws IOException {
      int p = encoder.patchSize();
      PatchCoordinates patches = source.locate(task, slides, p, encoder.level(), encoder.targetMpp()).patches();
      int n = patches.size();
      if (n == 0) {
        throw new IllegalArgumentException("slide '" + task.slideId() + "' has no patches");
      }
      int[] xy = new int[2 * chunk];
      try (FeatureFile.Writer out = FeatureFile.create(file, patches.toArray(), dim(), encoder.metadata(task.slideId()))) {
        for (int from = 0; from < n; from += chunk) {
          int to = Math.min(n, from + chunk);
          for (int i = from; i < to; i++) {
            xy[2 * (i - from)] = patches.x(i);
            xy[2 * (i - from) + 1] = patches.y(i);
          }
          int[] part = to - from == chunk ? xy : java.util.Arrays.copyOf(xy, 2 * (to - from));
          BagRef ref = new BagRef(task.slideId(), task.slide().toString(), 0, part, p, encoder.level(), -1, -1,
              encoder.targetMpp());
          pixels.clear();
          Loader.decodeInto(slides, ref, 0, to - from, pixels);
          out.append(encode(to - from), to - from);
        }
        out.finish();
      }
    }

    private int dimension = -1;

    /** D, found by encoding one blank patch the first time it is asked. */
    private int dim() {
      if (dimension < 0) {
        pixels.clear();
        int p = encoder.patchSize();
        for (int i = 0; i < 3 * p * p; i++) {
          pixels.put(i, (byte) 0);
        }
        dimension = encode(1).length;
      }
      return dimension;
    }

    /** The features (row-major n x D) of the first {@code n} patches in {@code pixels}. */
    private float[] encode(int n) {
      int p = encoder.patchSize();
      boolean gradMode = JniUtils.isGradMode();
      JniUtils.setGradMode(false);
      try (NDManager scope = manager.newSubManager()) {
        pixels.limit(n * 3 * p * p).position(0);
        NDArray x = normalization.upload(scope, pixels, n, p);
        NDArray h = model.encoder().forward(store, new NDList(x), false).singletonOrThrow();
        if (h.getShape().dimension() != 2) {
          h = h.reshape(h.getShape().get(0), -1);
        }
        float[] f = h.toFloatArray();
        h.close();
        return f;
      } finally {
        JniUtils.setGradMode(gradMode);
      }
    }

    @Override
    public void close() {
      manager.close();
    }
  }
}
