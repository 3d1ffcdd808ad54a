package io.bagpipe.api;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValue;
import java.util.Map;

/**
 * The Pekko settings Bagpipe wants in the ActorSystems it creates itself, kept in
 * reference.conf under {@code bagpipe.pekko} rather than at the top level, so that an
 * application's own ActorSystem in the same JVM ({@code ConfigFactory.load()}) never
 * sees them: logging through SLF4J at WARNING, the split-brain resolver, short
 * cluster shutdown phases, Java serialisation off.
 *
 * <p>Precedence in Bagpipe's systems: a {@code pekko.*} value set outside any
 * reference.conf (the application's application.conf, {@code --set}, a parsed string,
 * a system property) over {@code bagpipe.pekko.*}, over Pekko's own defaults.
 */
final class PekkoDefaults {

  private static final String KEY = "bagpipe.pekko";

  private PekkoDefaults() {}

  /** {@code config} for an ActorSystem that Bagpipe creates: {@code bagpipe.pekko} laid under the user's own pekko.* values. */
  static Config applyTo(Config config) {
    Config ours;
    try {
      ours = config.getConfig(KEY);
    } catch (ConfigException e) {
      throw new IllegalArgumentException(KEY + ": " + e.getMessage()
          + " (the configuration must fall back to Bagpipe's reference.conf, e.g. ConfigFactory.load())", e);
    }
    Config layered = config;
    for (Map.Entry<String, ConfigValue> e : ours.entrySet()) {
      String path = "pekko." + e.getKey();
      if (!config.hasPath(path) || !setByUser(config.getValue(path))) {
        layered = layered.withValue(path, e.getValue());
      }
    }
    return layered;
  }

  /** Whether a value comes from the application (a file, a string, properties), not from a library's reference.conf. */
  private static boolean setByUser(ConfigValue v) {
    String resource = v.origin().resource();
    return resource == null || !resource.equals("reference.conf");
  }
}
