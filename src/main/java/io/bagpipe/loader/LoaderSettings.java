package io.bagpipe.loader;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;

/**
 * The {@code bagpipe.loader} settings.
 *
 * @param threads loader actors on this node (each decodes one chunk at a time)
 * @param prefetchBags decoded bags each worker keeps ready ahead of its training
 * @param patchesPerTask patches one loader decodes per task; a bag is split into
 *     tasks spread over the loaders, so one bag decodes on several threads
 * @param idleBuffers decoded-bag buffers kept for reuse when idle
 */
public record LoaderSettings(int threads, int prefetchBags, int patchesPerTask, int idleBuffers) {
  public LoaderSettings {
    check(threads >= 1, "threads", threads);
    check(prefetchBags >= 1, "prefetch-bags", prefetchBags);
    check(patchesPerTask >= 1, "patches-per-task", patchesPerTask);
    check(idleBuffers >= 0, "idle-buffers", idleBuffers);
  }

  private static void check(boolean ok, String key, int value) {
    if (!ok) {
      throw new IllegalArgumentException("bagpipe.loader." + key + " is out of range: " + value);
    }
  }

  /** Reads {@code bagpipe.loader}; {@code threads = auto} means one per available CPU. */
  public static LoaderSettings fromConfig(Config c) {
    try {
      int threads =
          "auto".equals(c.getValue("threads").unwrapped())
              ? Runtime.getRuntime().availableProcessors()
              : c.getInt("threads");
      return new LoaderSettings(threads, c.getInt("prefetch-bags"), c.getInt("patches-per-task"), c.getInt("idle-buffers"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.loader: " + e.getMessage(), e);
    }
  }
}
