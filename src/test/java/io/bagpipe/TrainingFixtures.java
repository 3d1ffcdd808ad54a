package io.bagpipe;

import com.typesafe.config.Config;
import io.bagpipe.cli.ConfigOptions;
import io.bagpipe.slide.SlideFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A small data set for runtime tests: {@code slides} copies of one vips-written
 * slide (labels alternate 0/1, folds 1..4 with fold 4 for validation), a grid of
 * 64-px patches each, and the configuration to train on it quickly.
 */
public final class TrainingFixtures {
  private TrainingFixtures() {}

  public static final int PATCH = 64;

  public static Path dataSet(Path dir, int slides) throws IOException, InterruptedException {
    Path slidesDir = Files.createDirectories(dir.resolve("slides"));
    Path coords = Files.createDirectories(dir.resolve("coords"));
    Path one = SlideFixtures.vipsSlide(dir, "template", 640, 512);
    StringBuilder manifest = new StringBuilder("slide_id,label,fold\n");
    for (int i = 0; i < slides; i++) {
      String id = String.format("s%02d", i);
      Files.copy(one, slidesDir.resolve(id + ".tif"), StandardCopyOption.REPLACE_EXISTING);
      StringBuilder c = new StringBuilder("x,y\n");
      for (int y = 10; y + PATCH <= 512; y += PATCH) {
        for (int x = 10 + 7 * (i % 8); x + PATCH <= 640; x += PATCH) {
          c.append(x).append(',').append(y).append('\n');
        }
      }
      Files.writeString(coords.resolve(id + ".csv"), c);
      manifest.append(id).append(',').append(i % 2).append(',').append(1 + (i / 2) % 4).append('\n');
    }
    Files.writeString(dir.resolve("manifest.csv"), manifest);
    return dir;
  }

  /** Settings for a quick run on {@link #dataSet}; {@code extra} are more {@code key=value} overrides. */
  public static Config config(Path data, Path runDir, String... extra) {
    List<String> o = new ArrayList<>(List.of(
        "bagpipe.data.dir=" + data,
        "bagpipe.train.run-dir=" + runDir,
        "bagpipe.train.epochs=1",
        "bagpipe.plan.patch-size=" + PATCH,
        "bagpipe.plan.bag-size=4",
        "bagpipe.plan.bag-num=2",
        "bagpipe.plan.folds.k=4",
        "bagpipe.plan.folds.train=123",
        "bagpipe.plan.folds.val=4",
        "bagpipe.loader.threads=2",
        "bagpipe.worker.devices=[cpu]",
        "bagpipe.worker.intra-op-threads=1",
        "pekko.actor.serialize-messages=on",
        "pekko.loglevel=WARNING"));
    o.addAll(List.of(extra));
    return ConfigOptions.defaults(o);
  }

  /** Deletes {@code dir} and everything in it. */
  public static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  /**
   * One {@link #dataSet} for a whole test class: made in a folder of its own before the class's
   * first test ({@code @BeforeAll} methods included) and deleted after its last. Register it with
   * {@code @RegisterExtension static final TrainingFixtures.Shared DATA = new TrainingFixtures.Shared(8);}.
   */
  public static final class Shared implements BeforeAllCallback, AfterAllCallback {
    private final int slides;
    private Path dir;
    private Path data;

    public Shared(int slides) {
      this.slides = slides;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
      dir = Files.createTempDirectory("bagpipe-" + context.getRequiredTestClass().getSimpleName() + "-");
      data = dataSet(dir.resolve("data"), slides);
    }

    @Override
    public void afterAll(ExtensionContext context) throws IOException {
      deleteTree(dir);
    }

    /** The class's folder, holding the data set under {@code data/}; room for run directories. */
    public Path dir() {
      return dir;
    }

    /** The data set's folder. */
    public Path data() {
      return data;
    }

    /** {@link #config} for a run in {@code runDir} on this data set with two CPU workers. */
    public Config twoCpuWorkers(Path runDir, String... extra) {
      List<String> o = new ArrayList<>(List.of("bagpipe.worker.devices=[cpu,cpu]"));
      o.addAll(List.of(extra));
      return config(data, runDir, o.toArray(String[]::new));
    }
  }
}
