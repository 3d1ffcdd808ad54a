package io.bagpipe.bag;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * The slides of a data set as listed by {@code manifest.csv}, in file order.
 *
 * <p>Format: one {@code slide_id,label[,fold]} row per line, UTF-8 (a byte-order mark
 * is ignored), LF or CRLF line ends. Blank lines and lines starting with {@code #}
 * are skipped. The first row is a header, and skipped, when its label field is a
 * word (e.g. {@code slide_id,label,fold}). Labels are class indices {@code >= 0};
 * folds are integers {@code >= 1}, given on every row or on none. Each slide file
 * is {@code <slidesDir>/<slide_id>.<ext>} for the first extension that exists.
 *
 * <p>Guarantees: ids are unique, every slide file exists (it is not opened), and
 * every problem is a {@link BagInputException} naming the manifest and line.
 */
public record Manifest(Path path, List<SlideEntry> slides) {

  public Manifest {
    Objects.requireNonNull(path, "path");
    slides = List.copyOf(slides);
    if (slides.isEmpty()) {
      throw new BagInputException(path, 0, "the manifest lists no slides");
    }
  }

  /** Whether the rows carry a fold column (then every row has one). */
  public boolean hasFolds() {
    return slides.getFirst().fold().isPresent();
  }

  /**
   * Reads {@code manifest} and finds every slide's file under {@code slidesDir}.
   *
   * @param extensions file extensions (without dot) tried in order
   */
  public static Manifest read(Path manifest, Path slidesDir, List<String> extensions) {
    List<String> lines;
    try {
      lines = Files.readString(manifest).lines().toList();
    } catch (NoSuchFileException e) {
      throw new BagInputException(manifest, 0, "manifest not found (bagpipe.data.manifest)");
    } catch (CharacterCodingException e) {
      throw new BagInputException(manifest, 0, "not UTF-8 text");
    } catch (IOException e) {
      throw new BagInputException(manifest, 0, "cannot read: " + e);
    }
    List<SlideEntry> slides = new ArrayList<>();
    Map<String, Integer> seen = new HashMap<>();
    boolean first = true;
    for (int i = 0; i < lines.size(); i++) {
      int lineNo = i + 1;
      String line = i == 0 && lines.get(0).startsWith("\uFEFF") ? lines.get(0).substring(1) : lines.get(i);
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split(",", -1);
      boolean header = first && f.length >= 2 && f[1].trim().matches("[A-Za-z_][A-Za-z_ ]*");
      first = false;
      if (header) {
        continue;
      }
      if (f.length < 2 || f.length > 3) {
        throw new BagInputException(manifest, lineNo,
            "expected slide_id,label[,fold] but found " + f.length + " field(s): '" + line + "'");
      }
      String id = f[0].trim();
      if (id.isEmpty()) {
        throw new BagInputException(manifest, lineNo, "empty slide id");
      }
      if (id.contains("/") || id.contains("\\") || id.equals("..") || id.equals(".")) {
        throw new BagInputException(manifest, lineNo, "slide id '" + id + "' must be a plain file name");
      }
      int label = parseInt(f[1], manifest, lineNo, "label", 0);
      OptionalInt fold = f.length == 3 ? OptionalInt.of(parseInt(f[2], manifest, lineNo, "fold", 1)) : OptionalInt.empty();
      Integer previous = seen.putIfAbsent(id, lineNo);
      if (previous != null) {
        throw new BagInputException(manifest, lineNo,
            "duplicate slide id '" + id + "' (first listed on line " + previous + ")");
      }
      if (!slides.isEmpty() && slides.getFirst().fold().isPresent() != fold.isPresent()) {
        SlideEntry firstRow = slides.getFirst();
        throw new BagInputException(manifest, lineNo,
            (fold.isPresent() ? "has a fold but line " : "has no fold but line ") + firstRow.line()
                + (fold.isPresent() ? " has none" : " has one")
                + "; give a fold on every row or on none");
      }
      slides.add(new SlideEntry(id, label, fold, findSlide(slidesDir, id, extensions, manifest, lineNo), lineNo));
    }
    return new Manifest(manifest, slides);
  }

  private static int parseInt(String field, Path manifest, int line, String what, int min) {
    String t = field.trim();
    try {
      int v = Integer.parseInt(t);
      if (v >= min) {
        return v;
      }
    } catch (NumberFormatException ignored) {
      // reported below
    }
    throw new BagInputException(manifest, line, what + " must be an integer >= " + min + ", got '" + t + "'");
  }

  private static Path findSlide(Path dir, String id, List<String> extensions, Path manifest, int line) {
    for (String ext : extensions) {
      Path p = dir.resolve(id + "." + ext);
      if (Files.isRegularFile(p)) {
        return p;
      }
    }
    throw new BagInputException(manifest, line,
        "no file for slide '" + id + "' in " + dir + " (tried extensions " + String.join(", ", extensions)
            + "; see bagpipe.data.slides and bagpipe.data.slide-extensions)");
  }
}
