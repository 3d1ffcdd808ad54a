package io.bagpipe.cli;

import com.typesafe.config.Config;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe synth}: writes (or reuses, when complete and written with the
 * same settings) a synthetic data set; options override {@code bagpipe.synth.*}.
 */
@Command(name = "synth", mixinStandardHelpOptions = true,
    description = "Write a synthetic whole-slide data set (slides, coordinates, manifest).")
final class SynthCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Option(names = "--out", paramLabel = "DIR", description = "Folder to write (bagpipe.synth.out).")
  Path out;

  @Option(names = "--slides", paramLabel = "N", description = "Number of slides, half of them positive (bagpipe.synth.slides).")
  Integer slides;

  @Option(names = "--size", paramLabel = "PX", description = "Width and height of every slide in pixels (bagpipe.synth.width/height).")
  Integer size;

  @Option(names = "--seed", description = "Seed; the same seed gives the same bytes (bagpipe.synth.seed).")
  Long seed;

  @Option(names = "--tumour-fraction", paramLabel = "F", description = "Fraction of tissue patches in dense regions (bagpipe.synth.tumour-fraction).")
  Double tumourFraction;

  @Option(names = "--tumour-patches", paramLabel = "MIN-MAX", description = "Grid patches painted as tumour per positive slide, e.g. 1-3 (bagpipe.synth.tumour-patches).")
  String tumourPatches;

  @Override
  public Integer call() {
    List<String> sets = new ArrayList<>(configOptions.overrides);
    if (out != null) {
      sets.add("bagpipe.synth.out=" + out.toAbsolutePath());
    }
    if (slides != null) {
      sets.add("bagpipe.synth.slides=" + slides);
    }
    if (size != null) {
      sets.add("bagpipe.synth.width=" + size);
      sets.add("bagpipe.synth.height=" + size);
    }
    if (seed != null) {
      sets.add("bagpipe.synth.seed=" + seed);
    }
    if (tumourFraction != null) {
      sets.add("bagpipe.synth.tumour-fraction=" + tumourFraction);
    }
    if (tumourPatches != null) {
      String[] range = tumourPatches.split("-", -1);
      if (range.length > 2 || !tumourPatches.matches("\\d+(-\\d+)?")) {
        throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
            "--tumour-patches must be N or MIN-MAX (e.g. 1-3), got '" + tumourPatches + "'");
      }
      sets.add("bagpipe.synth.tumour-patches=[" + range[0] + ", " + range[range.length - 1] + "]");
    }
    Config config = ConfigOptions.load(configOptions.configFile, sets);
    write(SynthSettings.fromConfig(config.getConfig("bagpipe.synth")));
    return 0;
  }

  /** Writes or reuses the data set, with a line per slide and a summary on stderr. */
  static SyntheticDataSet.Result write(SynthSettings settings) {
    long t0 = System.nanoTime();
    System.err.printf("synth: %d slides of %dx%d into %s%n", settings.slides(), settings.width(), settings.height(),
        settings.out().toAbsolutePath());
    SyntheticDataSet.Result r = SyntheticDataSet.ensure(settings, line -> System.err.println("  " + line));
    System.err.printf("synth: %s %d slides (%.0f MB) in %s, %.1f s%n", r.reused() ? "reused" : "wrote", r.slides().size(),
        r.bytes() / 1e6, r.dir().toAbsolutePath(), (System.nanoTime() - t0) / 1e9);
    return r;
  }
}
