package io.bagpipe.bag;

import com.typesafe.config.ConfigException;
import java.util.List;
import java.util.TreeSet;

/**
 * Which folds train and which validate, e.g. train {@code "1234"} and validation
 * {@code "5"}. A value with commas is a list ({@code "1,2,3,4"}); without commas each
 * digit is a fold when {@code k <= 9}, and the whole value is one fold when
 * {@code k >= 10}. Validation may be empty (train on the training folds only);
 * training may not. Folds outside {@code 1..k}, repeated folds and folds in both
 * sets are errors naming the configuration key.
 *
 * @param train training folds, ascending
 * @param validation validation folds, ascending
 */
public record FoldSplit(List<Integer> train, List<Integer> validation) {

  public FoldSplit {
    train = List.copyOf(train);
    validation = List.copyOf(validation);
    if (train.isEmpty()) {
      throw new IllegalArgumentException("no training folds");
    }
    for (int f : validation) {
      if (train.contains(f)) {
        throw new IllegalArgumentException("fold " + f + " both trains and validates");
      }
    }
  }

  /** Parses {@code train} and {@code validation}; {@code trainKey}/{@code valKey} name them in errors. */
  public static FoldSplit parse(String trainKey, String train, String valKey, String validation, int k) {
    List<Integer> t = folds(trainKey, train, k);
    List<Integer> v = folds(valKey, validation, k);
    if (t.isEmpty()) {
      throw new ConfigException.BadValue(trainKey, "needs at least one fold, e.g. \"1234\"");
    }
    for (int f : v) {
      if (t.contains(f)) {
        throw new ConfigException.BadValue(valKey, "fold " + f + " is also in " + trainKey + " = \"" + train + "\"");
      }
    }
    return new FoldSplit(t, v);
  }

  /** Whether {@code fold} trains. */
  public boolean trains(int fold) {
    return train.contains(fold);
  }

  /** Whether {@code fold} validates. */
  public boolean validates(int fold) {
    return validation.contains(fold);
  }

  private static List<Integer> folds(String key, String value, int k) {
    String s = value.trim();
    List<String> parts;
    if (s.isEmpty()) {
      parts = List.of();
    } else if (s.contains(",")) {
      parts = List.of(s.split(",", -1));
    } else if (k <= 9) {
      parts = s.chars().mapToObj(c -> Character.toString((char) c)).toList();
    } else {
      parts = List.of(s);
    }
    TreeSet<Integer> out = new TreeSet<>();
    for (String p : parts) {
      int f;
      try {
        f = Integer.parseInt(p.trim());
      } catch (NumberFormatException e) {
        throw new ConfigException.BadValue(key, "'" + p.trim() + "' in \"" + value + "\" is not a fold number");
      }
      if (f < 1 || f > k) {
        throw new ConfigException.BadValue(key, "fold " + f + " in \"" + value + "\" is outside 1.." + k);
      }
      if (!out.add(f)) {
        throw new ConfigException.BadValue(key, "fold " + f + " is repeated in \"" + value + "\"");
      }
    }
    return List.copyOf(out);
  }
}
