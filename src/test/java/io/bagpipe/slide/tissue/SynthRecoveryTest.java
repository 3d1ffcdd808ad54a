package io.bagpipe.slide.tissue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.slide.Rgb;
import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bagpipe patch finds the tissue that bagpipe synth painted: its grid matches the
 * synthetic coordinate files with precision and recall of at least 0.95 under the
 * half-area rule. Synth lists the grid patches whose mean tissue weight is at least
 * 0.7, so the patcher runs with min-tissue-fraction 0.7, synth's patch size and mpp,
 * and reference.conf's segmentation settings.
 */
class SynthRecoveryTest {

  static final int PATCH = 224;
  static final double MPP = 0.5;

  /** reference.conf's segmentation settings at synth's patch size and microns per pixel. */
  static TissueSettings settings(double minTissue) {
    return new TissueSettings(PATCH, MPP, 0, minTissue, 64, 7, 4, 4, 2, 8, 512);
  }

  @Test
  void patchGridRecoversSynthTissuePatches(@TempDir Path dir) throws Exception {
    SynthSettings synth = new SynthSettings(dir.resolve("synth"), 4, 3072, 3072, 0.12, 0.35, 0.6, PATCH, 2, 11, 0.8f, MPP);
    SyntheticDataSet.Result data = SyntheticDataSet.ensure(synth, line -> {});
    List<PatchJob.Input> inputs = new ArrayList<>();
    for (var s : data.slides()) {
      inputs.add(new PatchJob.Input(s.id(), data.dir().resolve("slides").resolve(s.id() + ".tif"), null));
    }
    Path out = dir.resolve("patched");
    List<PatchJob.Row> rows = PatchJob.run(inputs, out, settings(0.7), new SlideSettings(new Rgb(255, 255, 255), 4, SlideDecoder.AUTO), 2,
        r -> {});
    int found = 0;
    int reference = 0;
    int foundMatched = 0;
    int referenceMatched = 0;
    for (PatchJob.Row row : rows) {
      assertEquals("ok", row.status(), row.error());
      assertEquals(MPP, row.slideMpp(), 1e-9);
      GridMatch m = GridMatch.of(PatchCoordinates.read(out.resolve("coords").resolve(row.id() + ".csv")), PATCH,
          PatchCoordinates.read(data.dir().resolve("coords").resolve(row.id() + ".csv")), PATCH);
      System.out.printf("%s: %d patches, synth %d, precision %.3f, recall %.3f%n", row.id(), m.found(), m.reference(),
          m.precision(), m.recall());
      assertTrue(m.precision() >= 0.9 && m.recall() >= 0.9, row.id() + ": " + m);
      assertTrue(Files.size(out.resolve("thumbnails").resolve(row.id() + ".png")) > 0);
      found += m.found();
      reference += m.reference();
      foundMatched += m.foundMatched();
      referenceMatched += m.referenceMatched();
    }
    double precision = (double) foundMatched / found;
    double recall = (double) referenceMatched / reference;
    System.out.printf("all %d slides: %d patches, synth %d, precision %.3f, recall %.3f%n", rows.size(), found, reference,
        precision, recall);
    assertTrue(precision >= 0.95, "precision " + precision);
    assertTrue(recall >= 0.95, "recall " + recall);
  }

  @Test
  void aSlideWhoseResolutionWouldGridItIntoTinyPatchesFailsNamingTheKey(@TempDir Path dir) throws Exception {
    // 100 um per pixel: a 224 px patch at 0.5 um per pixel would be 1 level-0 pixel
    SynthSettings synth = new SynthSettings(dir.resolve("synth"), 2, 1024, 1024, 0.12, 0.35, 0.6, PATCH, 1, 11, 0.8f, 100);
    SyntheticDataSet.Result data = SyntheticDataSet.ensure(synth, line -> {});
    List<PatchJob.Input> inputs = new ArrayList<>();
    for (var s : data.slides()) {
      inputs.add(new PatchJob.Input(s.id(), data.dir().resolve("slides").resolve(s.id() + ".tif"), null));
    }
    List<PatchJob.Row> rows = PatchJob.run(inputs, dir.resolve("patched"), settings(0.7),
        new SlideSettings(new Rgb(255, 255, 255), 4, SlideDecoder.AUTO), 1, r -> {});
    assertEquals(2, rows.size());
    for (PatchJob.Row row : rows) {
      assertTrue(row.failed(), row.toString());
      assertTrue(row.error().contains("100") && row.error().contains("bagpipe.patch.target-mpp")
          && row.error().contains("upsampled 224x"), row.error());
      assertFalse(Files.exists(dir.resolve("patched").resolve("coords").resolve(row.id() + ".csv")));
    }
  }
}
