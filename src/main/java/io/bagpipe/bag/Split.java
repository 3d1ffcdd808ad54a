package io.bagpipe.bag;

import java.util.Locale;
import java.util.Optional;

/**
 * The part of the data set a manifest row's {@code split} column puts a slide in:
 * trained on, validated on after each epoch, or held out and scored once by the final
 * model at the end of the run.
 */
public enum Split {
  TRAIN,
  VAL,
  TEST;

  /** The split written as {@code train}, {@code val} or {@code test} (any case, trimmed), if it is one. */
  public static Optional<Split> parse(String value) {
    return switch (value.trim().toLowerCase(Locale.ROOT)) {
      case "train" -> Optional.of(TRAIN);
      case "val" -> Optional.of(VAL);
      case "test" -> Optional.of(TEST);
      default -> Optional.empty();
    };
  }

  /** The name as the manifest writes it. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
