package io.bagpipe.loader;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;

/**
 * The {@code bagpipe.loader.cache} settings (see {@link PatchCache}).
 *
 * @param budget bytes of decoded patches this node keeps across epochs; 0 turns the cache off
 * @param replaceFraction share of the cache's entries that each training epoch may replace
 *     with patches not cached yet, once the cache is full; 0 keeps the first patches cached for good
 */
public record PatchCacheSettings(long budget, double replaceFraction) {
  public PatchCacheSettings {
    if (budget < 0) {
      throw new IllegalArgumentException("bagpipe.loader.cache.budget must be 0 (off) or a size in bytes such as"
          + " \"2 GiB\", got " + budget);
    }
    if (!(replaceFraction >= 0 && replaceFraction <= 1)) {
      throw new IllegalArgumentException("bagpipe.loader.cache.replace-fraction must lie in [0, 1], got "
          + replaceFraction);
    }
  }

  /** The cache turned off. */
  public static PatchCacheSettings off() {
    return new PatchCacheSettings(0, 0);
  }

  /** Whether patches are cached at all. */
  public boolean enabled() {
    return budget > 0;
  }

  /** Reads {@code bagpipe.loader.cache}: {@code budget} (a size: bytes, "512 MiB", "2 GiB") and {@code replace-fraction}. */
  public static PatchCacheSettings fromConfig(Config c) {
    long budget;
    try {
      budget = c.getBytes("budget");
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.loader.cache.budget: " + e.getMessage()
          + " (a size such as 0, \"512 MiB\" or \"2 GiB\")", e);
    }
    double fraction;
    try {
      fraction = c.getDouble("replace-fraction");
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.loader.cache.replace-fraction: " + e.getMessage(), e);
    }
    return new PatchCacheSettings(budget, fraction);
  }
}
