package io.bagpipe.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The JDK's unmodifiable map views (records keep their maps that way): entries
 * are written in iteration order and read into a fresh map wrapped the same way.
 */
final class UnmodifiableMapSerializer extends Serializer<Map<Object, Object>> {

  private final Supplier<Map<Object, Object>> empty;
  private final Function<Map<Object, Object>, Map<Object, Object>> wrap;

  private UnmodifiableMapSerializer(Supplier<Map<Object, Object>> empty, Function<Map<Object, Object>, Map<Object, Object>> wrap) {
    this.empty = empty;
    this.wrap = wrap;
    setImmutable(true);
  }

  /** Registers the sorted and the plain unmodifiable view classes from id {@code id}. */
  static int register(Kryo kryo, int id) {
    kryo.register(Collections.unmodifiableSortedMap(new TreeMap<>()).getClass(),
        new UnmodifiableMapSerializer(TreeMap::new, m -> Collections.unmodifiableSortedMap((TreeMap<Object, Object>) m)), id++);
    kryo.register(Collections.unmodifiableMap(new LinkedHashMap<>()).getClass(),
        new UnmodifiableMapSerializer(LinkedHashMap::new, Collections::unmodifiableMap), id++);
    return id;
  }

  @Override
  public void write(Kryo kryo, Output out, Map<Object, Object> map) {
    out.writeVarInt(map.size(), true);
    for (Map.Entry<Object, Object> e : map.entrySet()) {
      kryo.writeClassAndObject(out, e.getKey());
      kryo.writeClassAndObject(out, e.getValue());
    }
  }

  @Override
  public Map<Object, Object> read(Kryo kryo, Input in, Class<? extends Map<Object, Object>> type) {
    int n = in.readVarInt(true);
    Map<Object, Object> map = empty.get();
    for (int i = 0; i < n; i++) {
      map.put(kryo.readClassAndObject(in), kryo.readClassAndObject(in));
    }
    return wrap.apply(map);
  }
}
