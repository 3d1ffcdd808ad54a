package io.bagpipe.bag;

import io.bagpipe.serialization.Json;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * The class names of a run in index order: class {@code i} is {@code names().get(i)},
 * the model's output {@code i}. A manifest with integer labels has the map
 * {@code "0", "1", ...}; one with class names has the names of
 * {@code bagpipe.data.classes} when that list is set, otherwise its distinct labels in
 * sorted (String) order. The map is saved as {@code classes.json} in the run directory
 * and in every checkpoint, so predictions can be named and a resume with another map
 * refused.
 *
 * @param names class names, distinct and non-blank, at least one
 * @param named false when the manifest's labels are class indices
 */
public record ClassMap(List<String> names, boolean named) {

  public ClassMap {
    names = List.copyOf(names);
    if (names.isEmpty()) {
      throw new IllegalArgumentException("a class map needs at least one class");
    }
    if (new HashSet<>(names).size() != names.size()) {
      throw new IllegalArgumentException("class names repeat in " + names);
    }
    for (String n : names) {
      if (n.isBlank() || n.contains(",")) {
        throw new IllegalArgumentException("class name '" + n + "' must be non-blank and hold no comma");
      }
    }
  }

  /** The map of integer labels {@code 0..classes-1}. */
  public static ClassMap indices(int classes) {
    if (classes < 1) {
      throw new IllegalArgumentException("need at least one class, got " + classes);
    }
    return new ClassMap(java.util.stream.IntStream.range(0, classes).mapToObj(Integer::toString).toList(), false);
  }

  /** Number of classes. */
  public int size() {
    return names.size();
  }

  /** The index of class {@code name}, if the map has it. */
  public OptionalInt indexOf(String name) {
    int i = names.indexOf(name);
    return i < 0 ? OptionalInt.empty() : OptionalInt.of(i);
  }

  /** The names joined by commas, as checkpoints record the map. */
  public String joined() {
    return String.join(",", names);
  }

  /** {@code {"named":true,"classes":["normal","tumor"]}}: index order is list order. */
  public String toJson() {
    StringBuilder b = new StringBuilder("{\"named\":").append(named).append(",\"classes\":[");
    for (int i = 0; i < names.size(); i++) {
      b.append(i == 0 ? "" : ",").append(Json.quote(names.get(i)));
    }
    return b.append("]}").toString();
  }

  @Override
  public String toString() {
    return "[" + String.join(", ", names) + "]";
  }

  /** Equal names in equal order, regardless of how the labels were written. */
  public boolean sameClasses(ClassMap other) {
    return Objects.equals(names, other.names);
  }
}
