package io.bagpipe.api;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;

/**
 * The {@code bagpipe.events} settings of a run's event stream.
 *
 * @param buffer events kept for each subscriber that has not asked for them yet, and for late
 *     subscribers; beyond it the oldest are dropped and counted in a {@link RunEvent.EventsDropped}
 */
public record EventSettings(int buffer) {

  private static final String KEY = "bagpipe.events.";

  public EventSettings {
    if (buffer < 1) {
      throw new IllegalArgumentException(KEY + "buffer must be >= 1, got " + buffer);
    }
  }

  /** Reads {@code bagpipe.events} (pass {@code config.getConfig("bagpipe.events")}). */
  public static EventSettings fromConfig(Config events) {
    ConfigValue v;
    try {
      v = events.getValue("buffer");
    } catch (ConfigException e) {
      throw new IllegalArgumentException(KEY + "buffer: " + e.getMessage(), e);
    }
    if (!(v.valueType() == ConfigValueType.NUMBER && v.unwrapped() instanceof Integer buffer)) {
      throw new ConfigException.BadValue(v.origin(), KEY + "buffer", "must be an integer >= 1, got " + v.render());
    }
    return new EventSettings(buffer);
  }
}
