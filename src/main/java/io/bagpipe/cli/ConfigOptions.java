package io.bagpipe.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigValue;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * Picocli mixin for {@code --config FILE} and {@code --set key=value}, and the one
 * place where configuration is loaded: the user's file (the top-level
 * {@code application.conf} by default, when present) over {@code reference.conf},
 * with {@code --set} overrides on top. Every {@code bagpipe.*} key the user sets
 * must exist in {@code reference.conf}; an unknown key or a wrong type is a
 * {@link BadConfigException} that names the key and where it was set.
 */
public final class ConfigOptions {

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description = "Configuration file (HOCON). Default: ./application.conf when present.")
  Path configFile;

  @Option(
      names = "--set",
      paramLabel = "KEY=VALUE",
      description = "Override one key, e.g. --set bagpipe.data.dir=/data/camelyon (repeatable).")
  List<String> overrides = new ArrayList<>();

  /**
   * System property naming the configuration file read when neither {@code --config} nor
   * ./application.conf is there: the release tarball's launcher points it at its
   * {@code conf/application.conf}.
   */
  static final String INSTALLED_CONFIG = "bagpipe.installed-config";

  /** Loads and validates the configuration these options describe. */
  public Config load() {
    return load(configFile, overrides);
  }

  /** Thrown for a configuration the user must fix; the message names the key. */
  public static final class BadConfigException extends RuntimeException {
    public BadConfigException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /**
   * Loads {@code file} (or ./application.conf when {@code file} is null and it
   * exists, else the installed {@code conf/application.conf}) over reference.conf, applies {@code overrides}, resolves and validates.
   */
  public static Config load(Path file, List<String> overrides) {
    Config user = ConfigFactory.empty();
    if (file != null) {
      if (!Files.isRegularFile(file)) {
        throw new BadConfigException("configuration file not found: " + file.toAbsolutePath(), null);
      }
      user = parse(() -> ConfigFactory.parseFile(file.toFile()), file.toString());
    } else if (Files.isRegularFile(Path.of("application.conf"))) {
      user = parse(() -> ConfigFactory.parseFile(Path.of("application.conf").toFile()), "application.conf");
    } else if (System.getProperty(INSTALLED_CONFIG) != null
        && Files.isRegularFile(Path.of(System.getProperty(INSTALLED_CONFIG)))) {
      Path installed = Path.of(System.getProperty(INSTALLED_CONFIG));
      user = parse(() -> ConfigFactory.parseFile(installed.toFile()), installed.toString());
    }
    return merge(user, overrides);
  }

  /** Whether {@code path} of a loaded configuration comes from the user (file, --set, environment), not reference.conf. */
  public static boolean setByUser(Config config, String path) {
    String resource = config.getValue(path).origin().resource();
    return resource == null || !resource.equals("reference.conf");
  }

  /** reference.conf (plus Pekko's references) with {@code overrides} and no user file. */
  public static Config defaults(List<String> overrides) {
    return merge(ConfigFactory.empty(), overrides);
  }

  private static Config merge(Config user, List<String> overrides) {
    Config reference =
        ConfigFactory.parseResources(
            ConfigOptions.class.getClassLoader(),
            "reference.conf",
            ConfigParseOptions.defaults().setAllowMissing(false));
    Config set = ConfigFactory.empty();
    for (String o : overrides) {
      int eq = o.indexOf('=');
      if (eq <= 0) {
        throw new BadConfigException("--set needs KEY=VALUE, got '" + o + "'", null);
      }
      String key = o.substring(0, eq).trim();
      String value = o.substring(eq + 1);
      Config one = parse(() -> ConfigFactory.parseString(key + " = " + quoteIfNeeded(value)), "--set " + o);
      set = one.withFallback(set);
    }
    Config userAll = set.withFallback(user);
    rejectUnknownKeys(userAll, reference);
    Config merged;
    try {
      merged = userAll.withFallback(reference).withFallback(ConfigFactory.defaultReferenceUnresolved()).resolve();
      Config resolvedReference = reference.resolve();
      merged.checkValid(resolvedReference, "bagpipe");
    } catch (ConfigException e) {
      throw new BadConfigException(e.getMessage(), e);
    }
    return merged;
  }

  private static Config parse(java.util.function.Supplier<Config> parser, String where) {
    try {
      return parser.get();
    } catch (ConfigException e) {
      throw new BadConfigException("cannot parse " + where + ": " + e.getMessage(), e);
    }
  }

  /** Values that HOCON would not read as one string (paths with ':' etc.) are quoted. */
  private static String quoteIfNeeded(String v) {
    String t = v.trim();
    if (t.isEmpty()) {
      return "\"\"";
    }
    if (t.startsWith("[") || t.startsWith("{") || t.startsWith("\"")) {
      return t;
    }
    if (t.matches("-?[0-9.]+|true|false|null|[A-Za-z0-9_.\\-]+")) {
      return t;
    }
    return "\"" + t.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  private static void rejectUnknownKeys(Config user, Config reference) {
    if (!user.hasPath("bagpipe")) {
      return;
    }
    for (Map.Entry<String, ConfigValue> e : user.getConfig("bagpipe").entrySet()) {
      String key = "bagpipe." + e.getKey();
      if (!reference.hasPathOrNull(key) && !isUnderFreeForm(key, reference)) {
        String origin = e.getValue().origin().description();
        throw new BadConfigException(
            "unknown configuration key '" + key + "' (" + origin + "); "
                + "src/main/resources/reference.conf lists every key",
            null);
      }
    }
  }

  /** Keys below an object whose reference default is an empty object are free-form. */
  private static boolean isUnderFreeForm(String key, Config reference) {
    String p = key;
    while (p.contains(".")) {
      p = p.substring(0, p.lastIndexOf('.'));
      if (reference.hasPath(p)
          && reference.getValue(p) instanceof com.typesafe.config.ConfigObject o
          && o.isEmpty()) {
        return true;
      }
    }
    return false;
  }
}
