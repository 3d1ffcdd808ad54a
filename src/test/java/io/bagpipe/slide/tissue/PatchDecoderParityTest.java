package io.bagpipe.slide.tissue;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.bagpipe.slide.SlideDecoder;
import io.bagpipe.slide.SlideFixtures;
import io.bagpipe.slide.SlideSettings;
import io.bagpipe.slide.ffm.JpegTileDecoder;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bagpipe patch} reads slides as {@code bagpipe.slide.decoder} says, and both decoders
 * find the same tissue: on synthetic JPEG-tiled slides the coordinate files and thumbnails are
 * byte for byte the same with {@code auto} (which must decode JPEG tiles itself) and
 * {@code openslide} (which must decode none).
 */
class PatchDecoderParityTest {

  @Test
  void tissueCoordinatesAreTheSameWithEitherDecoder(@TempDir Path dir) throws Exception {
    if ("true".equalsIgnoreCase(System.getenv("CI"))) {
      assertTrue(JpegTileDecoder.scanlineAvailable(), ".ci/run installs libturbojpeg0 and libjpeg62-turbo");
    }
    assumeTrue(JpegTileDecoder.scanlineAvailable(), "libturbojpeg0 or libjpeg62-turbo is missing; skipping");
    SyntheticDataSet.Result data = SyntheticDataSet.ensure(
        new SynthSettings(dir.resolve("synth"), 2, 2048, 1536, 0.12, 0.35, 0.6, 224, 1, 11, 0.8f, 0.5), line -> {});
    List<PatchJob.Input> inputs = new ArrayList<>();
    for (var s : data.slides()) {
      inputs.add(new PatchJob.Input(s.id(), data.dir().resolve("slides").resolve(s.id() + ".tif"), null));
    }
    TissueSettings tissue = SynthRecoveryTest.settings(0.5);

    long before = tiles();
    List<PatchJob.Row> auto = PatchJob.run(inputs, dir.resolve("auto"), tissue,
        new SlideSettings(SlideFixtures.WHITE, 4, SlideDecoder.AUTO), 1, r -> { });
    assertTrue(tiles() > before, "decoder auto decodes the synthetic slides' JPEG tiles itself");
    before = tiles();
    List<PatchJob.Row> openslide = PatchJob.run(inputs, dir.resolve("openslide"), tissue,
        new SlideSettings(SlideFixtures.WHITE, 4, SlideDecoder.OPENSLIDE), 1, r -> { });
    assertEquals(before, tiles(), "decoder openslide leaves every tile to OpenSlide");

    for (int i = 0; i < inputs.size(); i++) {
      assertEquals("ok", auto.get(i).status(), auto.get(i).error());
      assertEquals("ok", openslide.get(i).status(), openslide.get(i).error());
      assertTrue(auto.get(i).patches() > 5, inputs.get(i).id() + " has patches to compare");
      assertEquals(openslide.get(i).tissueFraction(), auto.get(i).tissueFraction(), 0, inputs.get(i).id());
      for (String file : List.of("coords/" + inputs.get(i).id() + ".csv", "thumbnails/" + inputs.get(i).id() + ".png")) {
        assertArrayEquals(Files.readAllBytes(dir.resolve("openslide").resolve(file)),
            Files.readAllBytes(dir.resolve("auto").resolve(file)), file + " differs between decoders");
      }
    }
  }

  private static long tiles() {
    long[] c = JpegTileDecoder.decodeCounts();
    return c[0] + c[1];
  }
}
