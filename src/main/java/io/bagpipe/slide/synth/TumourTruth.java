package io.bagpipe.slide.synth;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where the tumour lies on the slides of a synthetic data set, rebuilt from its
 * {@code dataset.json}: the settings recorded there re-make every slide's recipe and
 * {@link TissueMap}, which are pure functions of them (counted tumour patches included). Maps are built
 * on first use, per slide.
 */
public final class TumourTruth {

  private static final Pattern SETTINGS = Pattern.compile("\"settings\": \"v1 slides=(\\d+) size=(\\d+)x(\\d+)"
      + " tumour=([0-9.]+(?:E-?\\d+)?) tissue=([0-9.]+(?:E-?\\d+)?)-([0-9.]+(?:E-?\\d+)?) patch=(\\d+) folds=(\\d+) seed=(-?\\d+)"
      + " q=([0-9.]+(?:E-?\\d+)?) mpp=([0-9.]+(?:E-?\\d+)?)(?: tumour-patches=(\\d+)-(\\d+))?\"");
  /** Points per side sampled in a patch to decide whether it overlaps tumour. */
  private static final int SAMPLES = 8;

  private final SynthSettings settings;
  private final Map<String, TissueMap> maps = new HashMap<>();

  private TumourTruth(SynthSettings settings) {
    this.settings = settings;
  }

  /**
   * The truth of the synthetic data set in {@code dir}, or empty when {@code dir} holds no
   * {@code dataset.json} written by {@code bagpipe synth} (a real data set).
   */
  public static Optional<TumourTruth> of(Path dir) {
    Path marker = dir.resolve("dataset.json");
    if (!Files.isRegularFile(marker)) {
      return Optional.empty();
    }
    String text;
    try {
      text = Files.readString(marker);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + marker + ": " + e.getMessage(), e);
    }
    Matcher m = SETTINGS.matcher(text);
    if (!m.find()) {
      return Optional.empty();
    }
    return Optional.of(new TumourTruth(new SynthSettings(dir, Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
        Integer.parseInt(m.group(3)), Double.parseDouble(m.group(4)), Double.parseDouble(m.group(5)),
        Double.parseDouble(m.group(6)), Integer.parseInt(m.group(7)), Integer.parseInt(m.group(8)),
        Long.parseLong(m.group(9)), Float.parseFloat(m.group(10)), Double.parseDouble(m.group(11)),
        m.group(12) == null ? 0 : Integer.parseInt(m.group(12)), m.group(13) == null ? 0 : Integer.parseInt(m.group(13)))));
  }

  /**
   * Whether the level-0 square at ({@code x}, {@code y}) of side {@code size} on slide
   * {@code slideId} overlaps tumour: some point of an 8x8 grid over it lies on tissue in a dense
   * region of a positive slide. Always false on negative slides (their dense regions are benign).
   *
   * @throws IllegalArgumentException when the data set has no such slide
   */
  public synchronized boolean overlapsTumour(String slideId, int x, int y, int size) {
    TissueMap map = maps.computeIfAbsent(slideId, id -> new TissueMap(recipe(id)));
    if (!map.recipe().positive()) {
      return false;
    }
    for (int j = 0; j < SAMPLES; j++) {
      for (int i = 0; i < SAMPLES; i++) {
        double px = x + (i + 0.5) * size / SAMPLES;
        double py = y + (j + 0.5) * size / SAMPLES;
        if (map.denseAt(px, py) >= 0.5 && map.tissueAt(px, py) >= 0.5) {
          return true;
        }
      }
    }
    return false;
  }

  private SlideRecipe recipe(String slideId) {
    Matcher m = Pattern.compile("synth_(\\d+)").matcher(slideId);
    if (!m.matches() || Integer.parseInt(m.group(1)) >= settings.slides()) {
      throw new IllegalArgumentException("slide '" + slideId + "' is not one of the " + settings.slides()
          + " slides of the synthetic data set in " + settings.out());
    }
    return SyntheticDataSet.recipe(settings, Integer.parseInt(m.group(1)));
  }
}
