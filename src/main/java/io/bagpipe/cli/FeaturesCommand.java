package io.bagpipe.cli;

import ai.djl.engine.Engine;
import com.typesafe.config.Config;
import io.bagpipe.bag.DataSettings;
import io.bagpipe.bag.PlanSettings;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.predict.FeatureExtraction;
import io.bagpipe.predict.PatchSource;
import io.bagpipe.predict.PredictSettings;
import io.bagpipe.predict.SlideTask;
import io.bagpipe.predict.TrainedModel;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.worker.TorchThreads;
import io.bagpipe.worker.WorkerSettings;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe features}: a frozen encoder over every patch of every slide of a data set, one
 * feature file per slide ({@link FeatureExtraction}), for training on features
 * ({@code bagpipe.data.features}; docs/features.md).
 */
@Command(name = "features", mixinStandardHelpOptions = true,
    description = "Encode every patch of every slide once with a frozen encoder: OUT/<slide_id>.bpf, resumable.")
final class FeaturesCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Option(names = "--checkpoint", paramLabel = "PATH",
      description = "Take the encoder of this checkpoint (a .ckpt or run directory); without it, bagpipe.model's"
          + " encoder (torchscript + torchscript-path for a pretrained one), bagpipe.plan's patch size and level"
          + " and bagpipe.worker.normalize.")
  Path checkpoint;

  @Option(names = "--data", paramLabel = "DIR", description = "Data set folder: manifest.csv, slides/, coords/ (bagpipe.data.dir).")
  Path data;

  @Option(names = "--out", paramLabel = "DIR",
      description = "Folder for the feature files (created); default bagpipe.data.features.")
  Path out;

  @Override
  public Integer call() throws IOException {
    Config loaded = configOptions.load();
    Config config = data == null ? loaded
        : com.typesafe.config.ConfigFactory.parseMap(Map.of("bagpipe.data.dir", data.toAbsolutePath().toString()))
            .withFallback(loaded);
    Config b = config.getConfig("bagpipe");
    DataSettings dataSettings = DataSettings.fromConfig(b.getConfig("data"));
    Path target = out != null ? out : dataSettings.features().orElseThrow(() -> new IllegalArgumentException(
        "give --out DIR, or set bagpipe.data.features to the folder for the feature files"));
    WorkerSettings worker = WorkerSettings.fromConfig(b.getConfig("worker"),
        b.getValue("worker.devices").unwrapped() instanceof String ? Engine.getInstance().getGpuCount() : 0);
    FeatureExtraction.Encoder encoder;
    if (checkpoint != null) {
      encoder = FeatureExtraction.Encoder.of(TrainedModel.load(checkpoint, config));
    } else {
      PlanSettings plan = PlanSettings.fromConfig(b.getConfig("plan"));
      encoder = FeatureExtraction.Encoder.of(ModelSettings.fromConfig(b.getConfig("model")), plan.patchSize(),
          plan.level(), plan.targetMpp(), worker.mean(), worker.std());
    }
    SlideSettings slide = SlideSettings.fromConfig(b.getConfig("slide"));
    int chunk = PredictSettings.fromConfig(b.getConfig("predict")).chunkPatches();
    List<SlideTask> tasks = PredictCommand.tasks(dataSettings, false, "", "", List.of());
    TorchThreads.configure(worker.intraOpThreads());
    PrintStream err = System.err;
    err.printf("features: %d slide(s), encoder %s, %d-px patches, on %d worker(s) %s, into %s%n", tasks.size(),
        encoder.identity(), encoder.patchSize(), worker.devices().size(), worker.devices(), target.toAbsolutePath());
    PredictCommand.SlideBar bar = new PredictCommand.SlideBar(err, System.console() != null);
    PatchSource patches = PatchSource.filesOrTissue(dataSettings.coords(),
        io.bagpipe.slide.tissue.TissueSettings.fromConfig(b.getConfig("patch")), target, slide);
    FeatureExtraction.Summary s = FeatureExtraction.run(encoder, tasks, patches, slide, worker.devices(), chunk,
        target, bar);
    bar.end();
    err.printf("%d slide(s) encoded, %d already complete, %d failed (errors.csv); feature files in %s%n",
        s.written().size(), s.skipped().size(), s.failed().size(), target.toAbsolutePath());
    s.failed().forEach((id, error) -> err.println("  failed " + id + ": " + error));
    return s.failed().isEmpty() ? 0 : 1;
  }
}
