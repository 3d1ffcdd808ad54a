package io.bagpipe.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.util.Collections;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/** {@code Collections.unmodifiableSortedMap} (natural order), as records keep their extras. */
final class UnmodifiableSortedMapSerializer extends Serializer<SortedMap<Object, Object>> {

  @SuppressWarnings("rawtypes")
  static final Class TYPE = Collections.unmodifiableSortedMap(new TreeMap<>()).getClass();

  UnmodifiableSortedMapSerializer() {
    setImmutable(true);
  }

  @Override
  public void write(Kryo kryo, Output out, SortedMap<Object, Object> map) {
    out.writeVarInt(map.size(), true);
    for (Map.Entry<Object, Object> e : map.entrySet()) {
      kryo.writeClassAndObject(out, e.getKey());
      kryo.writeClassAndObject(out, e.getValue());
    }
  }

  @Override
  public SortedMap<Object, Object> read(Kryo kryo, Input in, Class<? extends SortedMap<Object, Object>> type) {
    int n = in.readVarInt(true);
    TreeMap<Object, Object> map = new TreeMap<>();
    for (int i = 0; i < n; i++) {
      map.put(kryo.readClassAndObject(in), kryo.readClassAndObject(in));
    }
    return Collections.unmodifiableSortedMap(map);
  }
}
