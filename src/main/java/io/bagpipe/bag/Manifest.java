package io.bagpipe.bag;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeSet;

/**
 * The slides of a data set as listed by {@code manifest.csv}, in file order.
 *
 * <p>Two layouts. <b>Named columns:</b> the first row is a header naming the columns,
 * in any order: {@code slide_id} and {@code label} (required), {@code case_id},
 * {@code fold} and {@code split} (optional); other columns are ignored. <b>Positional:</b>
 * {@code slide_id,label[,fold]} rows with no header. Both are UTF-8 (a byte-order mark
 * is ignored), LF or CRLF; blank lines and lines starting with {@code #} are skipped.
 * The first row is a header when one of its fields is {@code slide_id} or {@code label}.
 *
 * <p>Labels are class indices ({@code >= 0}) or class names (starting with a letter),
 * one kind throughout; names map to indices through the {@link ClassMap}: the order of
 * {@code classes} when given (a label outside it is an error), else sorted names.
 * Folds are integers {@code >= 1}, splits are {@code train}, {@code val} or
 * {@code test}; each is given on every row or on none. A case ({@code case_id}, the
 * slide id when absent) must sit in one fold and one split. Each slide file is
 * {@code <slidesDir>/<slide_id>.<ext>} for the first extension that exists.
 *
 * <p>Guarantees: ids are unique, every slide file exists (it is not opened), and
 * every problem is a {@link BagInputException} naming the manifest and line.
 *
 * @param path the manifest file
 * @param slides the rows in file order
 * @param classes the class names of the labels, in index order
 */
public record Manifest(Path path, List<SlideEntry> slides, ClassMap classes) {

  private static final List<String> COLUMNS = List.of("slide_id", "label", "case_id", "fold", "split");

  public Manifest {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(classes, "classes");
    slides = List.copyOf(slides);
    if (slides.isEmpty()) {
      throw new BagInputException(path, 0, "the manifest lists no slides");
    }
    for (SlideEntry s : slides) {
      if (s.label() >= classes.size()) {
        throw new IllegalArgumentException("label " + s.label() + " of slide " + s.slideId() + " is outside " + classes);
      }
    }
  }

  /** Rows with integer labels; the class map covers labels {@code 0..max}. */
  public Manifest(Path path, List<SlideEntry> slides) {
    this(path, slides, ClassMap.indices(1 + slides.stream().mapToInt(SlideEntry::label).max().orElse(0)));
  }

  /** Whether the rows carry a fold column (then every row has one). */
  public boolean hasFolds() {
    return slides.getFirst().fold().isPresent();
  }

  /** Whether the rows carry a split column (then every row has one, and it decides train, val and test). */
  public boolean hasSplits() {
    return slides.getFirst().split().isPresent();
  }

  /** Reads {@code manifest} with no class list: names map in sorted order. */
  public static Manifest read(Path manifest, Path slidesDir, List<String> extensions) {
    return read(manifest, slidesDir, extensions, List.of());
  }

  /**
   * Reads {@code manifest} and finds every slide's file under {@code slidesDir}.
   *
   * @param extensions file extensions (without dot) tried in order
   * @param classes class names in index order ({@code bagpipe.data.classes}); empty: sorted labels
   */
  public static Manifest read(Path manifest, Path slidesDir, List<String> extensions, List<String> classes) {
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
    List<Row> rows = new ArrayList<>();
    Map<String, Integer> seen = new HashMap<>();
    Map<String, Integer> column = null; // named columns, or null for the positional layout
    boolean first = true;
    for (int i = 0; i < lines.size(); i++) {
      int lineNo = i + 1;
      String line = i == 0 && lines.get(0).startsWith("\uFEFF") ? lines.get(0).substring(1) : lines.get(i);
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split(",", -1);
      if (first) {
        first = false;
        column = header(f, manifest, lineNo);
        if (column != null) {
          continue;
        }
      }
      Row row = column == null ? positional(f, line, manifest, lineNo) : named(f, column, manifest, lineNo);
      if (row.id.isEmpty()) {
        throw new BagInputException(manifest, lineNo, "empty slide id");
      }
      if (row.id.contains("/") || row.id.contains("\\") || row.id.equals("..") || row.id.equals(".")) {
        throw new BagInputException(manifest, lineNo, "slide id '" + row.id + "' must be a plain file name");
      }
      Integer previous = seen.putIfAbsent(row.id, lineNo);
      if (previous != null) {
        throw new BagInputException(manifest, lineNo,
            "duplicate slide id '" + row.id + "' (first listed on line " + previous + ")");
      }
      if (!rows.isEmpty() && rows.getFirst().fold.isPresent() != row.fold.isPresent()) {
        Row firstRow = rows.getFirst();
        throw new BagInputException(manifest, lineNo,
            (row.fold.isPresent() ? "has a fold but line " : "has no fold but line ") + firstRow.line
                + (row.fold.isPresent() ? " has none" : " has one")
                + "; give a fold on every row or on none");
      }
      rows.add(row);
    }
    if (rows.isEmpty()) {
      throw new BagInputException(manifest, 0, "the manifest lists no slides");
    }
    ClassMap map = classMap(rows, classes, manifest);
    checkCases(rows, manifest);
    List<SlideEntry> slides = new ArrayList<>(rows.size());
    for (Row r : rows) {
      int label = map.named() ? map.indexOf(r.label).orElseThrow() : Integer.parseInt(r.label);
      slides.add(new SlideEntry(r.id, label, r.fold, findSlide(slidesDir, r.id, extensions, manifest, r.line), r.line,
          r.caseId, r.split));
    }
    return new Manifest(manifest, slides, map);
  }

  /** A row as read, its label not yet mapped. */
  private record Row(String id, String label, OptionalInt fold, String caseId, Optional<Split> split, int line) {}

  /** The named columns of a header row, or null when the row is data (no field is slide_id or label). */
  private static Map<String, Integer> header(String[] f, Path manifest, int line) {
    Map<String, Integer> column = new LinkedHashMap<>();
    boolean header = false;
    for (int i = 0; i < f.length; i++) {
      String name = f[i].trim().toLowerCase(Locale.ROOT);
      header |= name.equals("slide_id") || name.equals("label");
      if (COLUMNS.contains(name) && column.putIfAbsent(name, i) != null) {
        throw new BagInputException(manifest, line, "column '" + name + "' is named twice in the header");
      }
    }
    if (!header) {
      return null;
    }
    for (String required : List.of("slide_id", "label")) {
      if (!column.containsKey(required)) {
        throw new BagInputException(manifest, line, "the header names no '" + required + "' column; a header needs"
            + " slide_id and label, and may add case_id, fold and split (found: " + String.join(",", f) + ")");
      }
    }
    return column;
  }

  private static Row positional(String[] f, String line, Path manifest, int lineNo) {
    if (f.length < 2 || f.length > 3) {
      throw new BagInputException(manifest, lineNo,
          "expected slide_id,label[,fold] but found " + f.length + " field(s): '" + line + "'");
    }
    String id = f[0].trim();
    OptionalInt fold = f.length == 3 ? OptionalInt.of(parseInt(f[2], manifest, lineNo, "fold", 1)) : OptionalInt.empty();
    return new Row(id, f[1].trim(), fold, id, Optional.empty(), lineNo);
  }

  private static Row named(String[] f, Map<String, Integer> column, Path manifest, int lineNo) {
    int needed = column.values().stream().mapToInt(Integer::intValue).max().orElseThrow() + 1;
    if (f.length < needed) {
      throw new BagInputException(manifest, lineNo, "expected at least " + needed + " fields as the header names, found "
          + f.length + ": '" + String.join(",", f) + "'");
    }
    String id = f[column.get("slide_id")].trim();
    OptionalInt fold = column.containsKey("fold")
        ? OptionalInt.of(parseInt(f[column.get("fold")], manifest, lineNo, "fold", 1)) : OptionalInt.empty();
    String caseId = id;
    if (column.containsKey("case_id")) {
      caseId = f[column.get("case_id")].trim();
      if (caseId.isEmpty()) {
        throw new BagInputException(manifest, lineNo, "empty case_id of slide '" + id + "'");
      }
    }
    Optional<Split> split = Optional.empty();
    if (column.containsKey("split")) {
      String value = f[column.get("split")];
      split = Split.parse(value);
      if (split.isEmpty()) {
        throw new BagInputException(manifest, lineNo, "split of slide '" + id + "' must be train, val or test, got '"
            + value.trim() + "'");
      }
    }
    return new Row(id, f[column.get("label")].trim(), fold, caseId, split, lineNo);
  }

  /** Checks that labels are one kind and maps them; see the class comment. */
  private static ClassMap classMap(List<Row> rows, List<String> classes, Path manifest) {
    if (!classes.isEmpty()) {
      ClassMap map = new ClassMap(classes, true);
      for (Row r : rows) {
        if (map.indexOf(r.label).isEmpty()) {
          throw new BagInputException(manifest, r.line, "label '" + r.label + "' of slide '" + r.id
              + "' is not in the class map bagpipe.data.classes = " + map);
        }
      }
      return map;
    }
    Row firstRow = rows.getFirst();
    boolean named = isName(firstRow.label);
    int max = 0;
    TreeSet<String> names = new TreeSet<>();
    for (Row r : rows) {
      if (named) {
        if (!isName(r.label)) {
          throw new BagInputException(manifest, r.line, "label must be a class name (starting with a letter), as on"
              + " line " + firstRow.line + ", got '" + r.label + "'; use names or integers throughout");
        }
        names.add(r.label);
      } else {
        int label = parseInt(r.label, manifest, r.line, "label", 0);
        max = Math.max(max, label);
      }
    }
    return named ? new ClassMap(List.copyOf(names), true) : ClassMap.indices(max + 1);
  }

  private static boolean isName(String label) {
    return !label.isEmpty() && Character.isLetter(label.charAt(0));
  }

  /** Every case sits in one fold and one split, or the rows that disagree are named. */
  private static void checkCases(List<Row> rows, Path manifest) {
    Map<String, Row> firstOfCase = new HashMap<>();
    for (Row r : rows) {
      Row other = firstOfCase.putIfAbsent(r.caseId, r);
      if (other == null) {
        continue;
      }
      if (!other.split.equals(r.split)) {
        throw new BagInputException(manifest, r.line, "case '" + r.caseId + "' is in split "
            + r.split.map(Split::label).orElse("?") + " here (slide '" + r.id + "') but in split "
            + other.split.map(Split::label).orElse("?") + " on line " + other.line + " (slide '" + other.id
            + "'); all slides of a case must share one split");
      }
      if (!other.fold.equals(r.fold)) {
        throw new BagInputException(manifest, r.line, "case '" + r.caseId + "' is in fold " + r.fold.getAsInt()
            + " here (slide '" + r.id + "') but in fold " + other.fold.getAsInt() + " on line " + other.line
            + " (slide '" + other.id + "'); all slides of a case must share one fold");
      }
    }
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
    throw new BagInputException(manifest, line, what + " must be an integer >= " + min + ", got '" + t + "'"
        + (what.equals("label") ? " (or, on every row, a class name starting with a letter)" : ""));
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
