package io.bagpipe.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigValueFactory;
import io.bagpipe.bag.DataSettings;
import io.bagpipe.bag.Extent;
import io.bagpipe.bag.Manifest;
import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.bag.SlideEntry;
import io.bagpipe.slide.Slide;
import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.slide.ffm.JpegTileDecoder;
import io.bagpipe.slide.ffm.NativeSlide;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bagpipe bench read}: patches/s of Bagpipe's slide reads beside the C
 * limit ({@code read_limit.c raw}) on the same slides, the same patch sequence
 * and the same thread counts, interleaved over rounds; prints and saves a report
 * with per-round ratios and their median.
 */
@Command(
    name = "read",
    mixinStandardHelpOptions = true,
    description = "Patches/s through SlidePool reads vs the C read_region limit, same slides and threads.")
final class BenchReadCommand implements Callable<Integer> {

  @Mixin ConfigOptions configOptions;

  @Mixin ProbeOptions probeOptions;

  @Option(names = "--data", paramLabel = "DIR",
      description = "Data set (manifest.csv, svs/ or slides/, coords/). Default: bagpipe.bench.peer-data, made with bench/make_slides.sh when missing.")
  Path data;

  @Option(names = "--threads", split = ",", paramLabel = "N", description = "Thread counts (default: 1,2).")
  List<Integer> threads = List.of(1, 2);

  @Option(names = "--patches", paramLabel = "M", description = "Patches per measured run (default: ${DEFAULT-VALUE}).")
  long patches = 1500;

  @Option(names = "--rounds", paramLabel = "R", description = "Interleaved rounds; the report gives medians (default: ${DEFAULT-VALUE}).")
  int rounds = 3;

  @Override
  public Integer call() throws Exception {
    Config config = configOptions.load();
    BenchSettings bench = BenchSettings.fromConfig(config.getConfig("bagpipe.bench"));
    PeerTools peers = probeOptions.tools(bench);
    Path dir = bench.data(data, peers);
    if (patches < 1 || rounds < 1 || threads.isEmpty() || threads.stream().anyMatch(t -> t < 1)) {
      throw new IllegalArgumentException("--patches, --rounds and --threads must be positive");
    }
    DataSettings ds =
        DataSettings.fromConfig(config.withValue("bagpipe.data.dir", ConfigValueFactory.fromAnyRef(dir.toString())).getConfig("bagpipe.data"));
    SlideSettings slideSettings = SlideSettings.fromConfig(config.getConfig("bagpipe.slide"));
    Manifest manifest = Manifest.read(ds.manifest(), ds.slides(), ds.slideExtensions());
    List<Path> slides = new ArrayList<>();
    List<PatchCoordinates> coords = new ArrayList<>();
    for (SlideEntry e : manifest.slides()) {
      Extent extent;
      // Only the level-0 size, to check the coordinates: no pixels are read here, so OpenSlide
      // alone (the measured reads below go through ReadBench's pool, as the decoder says).
      try (Slide s = Slide.open(e.slide(), slideSettings.background(), SlideDecoder.OPENSLIDE)) {
        extent = new Extent(s.level(0).width(), s.level(0).height());
      }
      slides.add(e.slide());
      coords.add(PatchCoordinates.read(ds.coords().resolve(e.slideId() + ".csv"), ReadBench.PATCH, extent));
    }
    Path limit = peers.compile("read_limit");
    Path cData = cProbeLayout(dir, ds, manifest, bench.out());
    long bytes = warmPageCache(slides);
    System.err.printf("bench read: %d slides (%.0f MB, now in the page cache), %d patches per run, threads %s, %d rounds%n",
        slides.size(), bytes / 1e6, patches, threads, rounds);

    PixelCheck check = PixelCheck.run(slides, coords, slideSettings, CHECKED_PER_SLIDE);
    System.err.printf("bench read: pixels of %d patches per slide, decoder %s vs OpenSlide: %s%n",
        CHECKED_PER_SLIDE, slideSettings.decoder().name().toLowerCase(java.util.Locale.ROOT), check.summary());
    long[] tilesBefore = JpegTileDecoder.decodeCounts();

    ReadBench ours = new ReadBench(slides, coords, slideSettings);
    ours.run(threads.stream().max(Integer::compare).orElseThrow(), Math.min(patches, 300), 99); // JIT warm-up, own handles
    int cells = threads.size();
    double[][] c = new double[cells][rounds];
    double[][] j = new double[cells][rounds];
    double[][] cCpu = new double[cells][rounds];
    double[][] jCpu = new double[cells][rounds];
    for (int r = 0; r < rounds; r++) {
      for (int i = 0; i < cells; i++) {
        int t = threads.get(i);
        long seed = r + 1;
        Map<String, String> res =
            peers.result(List.of(limit.toString(), cData.toString(), Long.toString(patches), Integer.toString(t), "raw", Long.toString(seed)), 1800);
        c[i][r] = Double.parseDouble(res.get("patches_per_s"));
        cCpu[i][r] = Double.parseDouble(res.get("patches_per_cpu_s"));
        ReadBench.Result jr = ours.run(t, patches, seed);
        j[i][r] = jr.patchesPerSecond();
        jCpu[i][r] = jr.patchesPerCpuSecond();
        System.err.printf("  round %d/%d, %d thread(s): C %.0f patches/s, Bagpipe %.0f patches/s (%.3fx)%n",
            r + 1, rounds, t, c[i][r], j[i][r], j[i][r] / c[i][r]);
      }
    }

    StringBuilder md = new StringBuilder();
    md.append("# bagpipe bench read\n\n")
        .append("- date: ").append(LocalDateTime.now().withNano(0)).append('\n')
        .append("- data: ").append(dir).append(" (").append(slides.size()).append(" slides, ")
        .append(String.format("%.0f MB", bytes / 1e6)).append(")\n")
        .append("- patch: 224x224 RGB at level 0, random (slide, coordinate) as read_limit.c raw, same seeds\n")
        .append("- OpenSlide ").append(NativeSlide.version()).append(", Java ").append(Runtime.version())
        .append(", ").append(Runtime.getRuntime().availableProcessors()).append(" CPUs\n")
        .append("- probes: ").append(peers.describe()).append('\n')
        .append("- C limit: `").append(limit).append(' ').append(cData).append(' ').append(patches).append(" T raw SEED`\n")
        .append("- rounds: ").append(rounds).append(", interleaved C then Bagpipe per thread count\n\n")
        .append("| threads | C limit patches/s | Bagpipe patches/s | ratio (median of rounds) | per round | C patches/CPU-s | Bagpipe patches/CPU-s | CPU ratio |\n")
        .append("|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < cells; i++) {
      double[] ratio = new double[rounds];
      double[] cpuRatio = new double[rounds];
      StringBuilder per = new StringBuilder();
      for (int r = 0; r < rounds; r++) {
        ratio[r] = j[i][r] / c[i][r];
        cpuRatio[r] = jCpu[i][r] / cCpu[i][r];
        per.append(r == 0 ? "" : ", ").append(String.format("%.3f", ratio[r]));
      }
      md.append(String.format("| %d | %.0f | %.0f | **%.3f** | %s | %.0f | %.0f | %.3f |%n",
          threads.get(i), median(c[i]), median(j[i]), median(ratio), per, median(cCpu[i]), median(jCpu[i]), median(cpuRatio)));
    }
    md.append("\nRatio = Bagpipe ÷ C limit within a round (Bagpipe also converts ARGB to RGB; the C `raw` mode does not).\n");
    long[] tilesAfter = JpegTileDecoder.decodeCounts();
    md.append("\n- Bagpipe decoder: `bagpipe.slide.decoder = ")
        .append(slideSettings.decoder().name().toLowerCase(java.util.Locale.ROOT)).append("`; tiles decoded without OpenSlide in the")
        .append(" measured runs: ").append(tilesAfter[0] - tilesBefore[0]).append(" through libjpeg's scanline API, ")
        .append(tilesAfter[1] - tilesBefore[1]).append(" through TurboJPEG\n")
        .append("- pixel check against OpenSlide (").append(CHECKED_PER_SLIDE).append(" random patches of each slide, ")
        .append("byte for byte): ").append(check.summary()).append('\n');
    bench.report("read", md);
    if (!check.allEqual()) {
      System.err.println("bench read: pixels differ from OpenSlide's; set bagpipe.slide.decoder = openslide and report the slide");
      return 1;
    }
    return 0;
  }

  private static final int CHECKED_PER_SLIDE = 64;

  /** read_limit.c expects <dir>/manifest.csv with a header, <dir>/svs/<id>.tif and <dir>/coords/<id>.csv. */
  private static Path cProbeLayout(Path dir, DataSettings ds, Manifest manifest, Path out) throws Exception {
    boolean native_ = ds.slides().equals(dir.resolve("svs")) && ds.coords().equals(dir.resolve("coords"))
        && manifest.slides().stream().allMatch(e -> e.slide().equals(ds.slides().resolve(e.slideId() + ".tif")));
    if (native_ && Files.readAllLines(ds.manifest()).getFirst().startsWith("slide_id")) {
      return dir;
    }
    Path shadow = out.resolve("c-layout").toAbsolutePath();
    Files.createDirectories(shadow.resolve("svs"));
    Files.createDirectories(shadow.resolve("coords"));
    StringBuilder m = new StringBuilder("slide_id,label\n");
    for (SlideEntry e : manifest.slides()) {
      m.append(e.slideId()).append(',').append(e.label()).append('\n');
      link(shadow.resolve("svs").resolve(e.slideId() + ".tif"), e.slide().toAbsolutePath());
      link(shadow.resolve("coords").resolve(e.slideId() + ".csv"), ds.coords().resolve(e.slideId() + ".csv").toAbsolutePath());
    }
    Files.writeString(shadow.resolve("manifest.csv"), m);
    return shadow;
  }

  private static void link(Path link, Path target) throws Exception {
    Files.deleteIfExists(link);
    Files.createSymbolicLink(link, target);
  }

  private static long warmPageCache(List<Path> slides) throws Exception {
    long total = 0;
    byte[] buf = new byte[1 << 20];
    for (Path p : slides) {
      try (InputStream in = Files.newInputStream(p)) {
        for (int n; (n = in.read(buf)) > 0; ) {
          total += n;
        }
      }
    }
    return total;
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
