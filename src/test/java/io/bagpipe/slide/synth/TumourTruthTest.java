package io.bagpipe.slide.synth;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tumour regions rebuilt from dataset.json are those the slides were painted with. */
class TumourTruthTest {

  @Test
  void denseTissueOfPositiveSlidesIsTumourAndNegativesHaveNone(@TempDir Path dir) throws Exception {
    SynthSettings s = new SynthSettings(dir, 4, 2048, 1536, 0.15, 0.4, 0.6, 224, 2, 9, 0.9f, 0.5);
    Files.writeString(dir.resolve("dataset.json"), "{\n  \"generator\": \"bagpipe synth\",\n  \"settings\": \""
        + s.fingerprint() + "\",\n  \"slides\": []\n}\n");
    TumourTruth truth = TumourTruth.of(dir).orElseThrow();
    TissueMap positive = new TissueMap(SyntheticDataSet.recipe(s, 1));
    TissueMap negative = new TissueMap(SyntheticDataSet.recipe(s, 0));
    assertTrue(positive.densePatches() > 0);
    int clear = 0;
    for (TissueMap.Patch p : positive.patches()) {
      if (p.dense()) {
        assertTrue(truth.overlapsTumour("synth_001", p.x(), p.y(), 224), "dense patch " + p);
      } else if (!truth.overlapsTumour("synth_001", p.x(), p.y(), 224)) {
        clear++;
      }
    }
    assertTrue(clear > 0, "some tissue of a positive slide is not tumour");
    for (TissueMap.Patch p : negative.patches()) {
      assertFalse(truth.overlapsTumour("synth_000", p.x(), p.y(), 224));
    }
    assertThrows(IllegalArgumentException.class, () -> truth.overlapsTumour("synth_009", 0, 0, 224));
    assertTrue(TumourTruth.of(dir.resolve("nothing")).isEmpty());
  }
}
