package io.bagpipe.bag;

/**
 * How many patches a bag holds: a fixed count, or all patches of its slide (then
 * every slide gives exactly one bag and bag sizes vary by slide). Configured as
 * {@code bagpipe.plan.bag-size = 32} or {@code = "all"}.
 */
public sealed interface BagSize {

  /** Bags of {@code count} patches each. */
  record Fixed(int count) implements BagSize {
    public Fixed {
      if (count < 1) {
        throw new IllegalArgumentException("bag size must be positive, got " + count);
      }
    }

    @Override
    public String toString() {
      return Integer.toString(count);
    }
  }

  /** One bag per slide holding all its patches. */
  record All() implements BagSize {
    @Override
    public String toString() {
      return "all";
    }
  }
}
