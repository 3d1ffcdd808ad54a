package io.bagpipe.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code Collections.unmodifiableMap}, keeping the iteration order. */
final class UnmodifiableMapSerializer extends Serializer<Map<Object, Object>> {

  UnmodifiableMapSerializer() {
    setImmutable(true);
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
    Map<Object, Object> map = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) {
      map.put(kryo.readClassAndObject(in), kryo.readClassAndObject(in));
    }
    return Collections.unmodifiableMap(map);
  }
}
