package io.bagpipe;

import com.typesafe.config.Config;
import io.bagpipe.cli.ConfigOptions;
import io.bagpipe.slide.SlideFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

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
}
