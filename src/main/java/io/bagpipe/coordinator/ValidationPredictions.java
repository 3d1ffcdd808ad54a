package io.bagpipe.coordinator;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * One CSV per validated epoch, {@code <run-dir>/predictions/val-epoch-NNNN.csv}: a line per
 * validation slide, {@code slide_id,label,bags,p0,p1,...} (the mean class probabilities of its
 * bags, which the epoch's accuracy, AUC and confusion matrix come from). Bounded: as many lines
 * as validation slides. Written to a temporary name and renamed, so a reader never sees half a
 * file; a resumed run overwrites the epochs it validates again.
 */
public final class ValidationPredictions {

  private ValidationPredictions() {}

  /** The file of {@code epoch} in {@code runDir}. */
  public static Path file(Path runDir, int epoch) {
    return runDir.resolve("predictions").resolve(String.format("val-epoch-%04d.csv", epoch));
  }

  /** Writes {@code slides} as the predictions of {@code epoch}. */
  public static void write(Path runDir, int epoch, List<SlidePrediction> slides) throws IOException {
    if (slides.isEmpty()) {
      return;
    }
    StringBuilder b = new StringBuilder("slide_id,label,bags");
    int classes = slides.getFirst().probabilities().length;
    for (int c = 0; c < classes; c++) {
      b.append(",p").append(c);
    }
    b.append('\n');
    for (SlidePrediction s : slides) {
      b.append(s.slideId()).append(',').append(s.label()).append(',').append(s.bags());
      for (int c = 0; c < classes; c++) {
        b.append(',').append((float) s.probability(c));
      }
      b.append('\n');
    }
    Path target = file(runDir, epoch);
    Files.createDirectories(target.getParent());
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    Files.writeString(tmp, b, StandardCharsets.UTF_8);
    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
