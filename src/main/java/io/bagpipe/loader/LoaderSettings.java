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
 * @param cache the node's {@link PatchCache} of decoded patches ({@code bagpipe.loader.cache})
 */
public record LoaderSettings(int threads, int prefetchBags, int patchesPerTask, int idleBuffers,
    PatchCacheSettings cache) {
  public LoaderSettings {
    java.util.Objects.requireNonNull(cache, "cache");
    check(threads >= 1, "threads", threads);
    check(prefetchBags >= 1, "prefetch-bags", prefetchBags);
    check(patchesPerTask >= 1, "patches-per-task", patchesPerTask);
    check(idleBuffers >= 0, "idle-buffers", idleBuffers);
  }

  /** Settings with no patch cache. */
  public LoaderSettings(int threads, int prefetchBags, int patchesPerTask, int idleBuffers) {
    this(threads, prefetchBags, patchesPerTask, idleBuffers, PatchCacheSettings.off());
  }

  private static void check(boolean ok, String key, int value) {
    if (!ok) {
      throw new IllegalArgumentException("bagpipe.loader." + key + " is out of range: " + value);
    }
  }

  /**
   * Reads {@code bagpipe.loader}. {@code threads = auto} gives the loaders the cores
   * that compute does not take: {@code max(1, CPUs - computeThreads)}, where
   * {@code computeThreads} are the threads this node's CPU workers run on. Decode
   * threads beyond that only preempt the workers (measured: 1 loader beside 2 CPU
   * workers on 2 cores trains ~15% faster than 2, with half the system time).
   */
  public static LoaderSettings fromConfig(Config c, int computeThreads) {
    try {
      int threads =
          "auto".equals(c.getValue("threads").unwrapped())
              ? Math.max(1, Runtime.getRuntime().availableProcessors() - computeThreads)
              : c.getInt("threads");
      int prefetch = c.getInt("prefetch-bags");
      int perTask = c.getInt("patches-per-task");
      int idle = c.getInt("idle-buffers");
      return new LoaderSettings(threads, prefetch, perTask, idle, PatchCacheSettings.fromConfig(c.getConfig("cache")));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.loader: " + e.getMessage(), e);
    }
  }
}
