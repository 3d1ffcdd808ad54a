package io.bagpipe.bag;

import io.bagpipe.serialization.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * SHA-256 digests of the files a data set is read from: the manifest and every
 * coordinate file used, each by a name relative to the data set ({@code manifest.csv},
 * {@code coords/<file>}), plus one digest over all of them (the SHA-256 of the sorted
 * {@code name digest} lines). Files are streamed through a small buffer, one at a time,
 * so memory does not grow with their size or number. A run saves this as
 * {@code data-digest.json} and its checkpoints carry {@link #total()}, so a resume on
 * changed data is noticed and the changed files named.
 *
 * @param total digest over all files, hex
 * @param files per-file digests, hex, by name, sorted
 */
public record DataDigest(String total, Map<String, String> files) {

  private static final Pattern ENTRY = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"\\s*:\\s*\"([0-9a-f]{64})\"");

  public DataDigest {
    Objects.requireNonNull(total, "total");
    files = java.util.Collections.unmodifiableMap(new TreeMap<>(files));
  }

  /** Digests the manifest and the coordinate files of {@code data}. */
  public static DataDigest of(DataSet data) {
    Map<String, String> files = new TreeMap<>();
    Path manifest = data.manifest().path();
    files.put(manifest.getFileName().toString(), sha256(manifest));
    for (Path p : data.coordinateFiles().values()) {
      Path parent = p.getParent();
      String name = (parent == null ? "" : parent.getFileName() + "/") + p.getFileName();
      files.put(name, sha256(p));
    }
    return new DataDigest(totalOf(files), files);
  }

  private static String totalOf(Map<String, String> files) {
    MessageDigest all = sha();
    files.forEach((name, hex) -> all.update((name + " " + hex + "\n").getBytes(StandardCharsets.UTF_8)));
    return HexFormat.of().formatHex(all.digest());
  }

  /** The SHA-256 of one file, hex, read in 64 KiB pieces. */
  public static String sha256(Path file) {
    MessageDigest d = sha();
    byte[] buffer = new byte[1 << 16];
    try (InputStream in = Files.newInputStream(file)) {
      for (int n; (n = in.read(buffer)) > 0; ) {
        d.update(buffer, 0, n);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + " to digest it", e);
    }
    return HexFormat.of().formatHex(d.digest());
  }

  private static MessageDigest sha() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks SHA-256", e);
    }
  }

  /** The names of files added, removed or changed from {@code before} to this, at most {@code limit} of them. */
  public List<String> changesFrom(DataDigest before, int limit) {
    List<String> out = new ArrayList<>();
    TreeSet<String> names = new TreeSet<>(files.keySet());
    names.addAll(before.files.keySet());
    int more = 0;
    for (String n : names) {
      String was = before.files.get(n);
      String now = files.get(n);
      String change = was == null ? n + " (added)" : now == null ? n + " (removed)" : was.equals(now) ? null
          : n + " (changed)";
      if (change != null) {
        if (out.size() < limit) {
          out.add(change);
        } else {
          more++;
        }
      }
    }
    if (more > 0) {
      out.add("and " + more + " more");
    }
    return out;
  }

  /** {@code {"total":"...","files":{"manifest.csv":"...",...}}}, one file a line. */
  public String toJson() {
    StringBuilder b = new StringBuilder("{\n  \"total\": \"").append(total).append("\",\n  \"files\": {");
    int i = 0;
    for (var e : files.entrySet()) {
      b.append(i++ == 0 ? "\n" : ",\n").append("    ").append(Json.quote(e.getKey())).append(": \"")
          .append(e.getValue()).append('"');
    }
    return b.append("\n  }\n}\n").toString();
  }

  /** Reads what {@link #toJson()} wrote. */
  public static DataDigest parse(String json) {
    int filesAt = json.indexOf("\"files\"");
    if (filesAt < 0) {
      throw new IllegalArgumentException("no \"files\" in the data digest");
    }
    Map<String, String> files = new TreeMap<>();
    Matcher m = ENTRY.matcher(json.substring(filesAt));
    while (m.find()) {
      files.put(m.group(1).replace("\\\"", "\"").replace("\\\\", "\\"), m.group(2));
    }
    Matcher t = ENTRY.matcher(json.substring(0, filesAt));
    return new DataDigest(t.find() ? t.group(2) : totalOf(files), files);
  }
}
