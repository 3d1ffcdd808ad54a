package io.bagpipe.serialization;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.ByteBufferInput;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A length read from a message is checked against the bytes left before anything is allocated. */
class LengthGuardTest {

  private final Kryo kryo = Registrations.newKryo(List.of(), new ActorRefSerializer(() -> null));

  /** Kryo's header for a registered class followed by a length that claims {@code n} elements. */
  private byte[] claim(Class<?> type, int n) {
    Output out = new Output(32);
    kryo.writeClass(out, type);
    if (java.util.Collection.class.isAssignableFrom(type)) {
      out.writeVarIntFlag(false, n + 1, true); // an elements-of-one-class flag, then length + 1
    } else {
      out.writeVarInt(n + 1, true); // arrays write length + 1, maps the length
    }
    return out.toBytes();
  }

  @Test
  void tenBytesCannotAskForAGigabyteArray() {
    for (Class<?> type : List.of(float[].class, long[].class, byte[].class, String[].class, ArrayList.class,
        HashMap.class, List.of(1, 2, 3).getClass(), Map.of(1, 2, 3, 4).getClass())) {
      byte[] bytes = claim(type, 1 << 30);
      assertTrue(bytes.length <= 10, type + ": " + bytes.length);
      KryoException e = assertThrows(KryoException.class, () -> kryo.readClassAndObject(new Input(bytes)), type::getName);
      assertTrue(e.getMessage().contains("cannot fit"), e.getMessage());
      ByteBuffer buf = ByteBuffer.wrap(bytes);
      assertThrows(KryoException.class, () -> kryo.readClassAndObject(new ByteBufferInput(buf)), type::getName);
    }
  }

  @Test
  void aStringClaimingMoreCharactersThanTheMessageHoldsIsRefused() {
    Output out = new Output(32);
    kryo.writeClass(out, String.class);
    // Kryo's UTF-8 length: 6 bits in the first byte (0x80 marks it, 0x40 says more follow), then 7 per byte.
    int n = (1 << 28) + 1;
    out.writeByte(0x80 | 0x40 | (n & 0x3F));
    out.writeByte(0x80 | ((n >>> 6) & 0x7F));
    out.writeByte(0x80 | ((n >>> 13) & 0x7F));
    out.writeByte(0x80 | ((n >>> 20) & 0x7F));
    out.writeByte((n >>> 27) & 0x7F);
    byte[] bytes = out.toBytes();
    KryoException e = assertThrows(KryoException.class, () -> kryo.readClassAndObject(new Input(bytes)));
    assertTrue(e.getMessage().contains("cannot fit"), e.getMessage());
  }

  @Test
  void honestMessagesStillRoundTrip() {
    float[] floats = new float[1000];
    floats[999] = 3.5f;
    Map<String, Object> map = new HashMap<>();
    map.put("ключ", List.of(1L, 2L));
    Object[] values = {floats, "", "ascii", "naïve — ünïcode", new ArrayList<>(List.of("a", "b")), List.of(), map,
        new long[][] {{1}, {2, 3}}};
    for (Object v : values) {
      Output out = new Output(1024, -1);
      kryo.writeClassAndObject(out, v);
      Object back = kryo.readClassAndObject(new Input(out.toBytes()));
      if (v instanceof float[] f) {
        assertArrayEquals(f, (float[]) back);
      } else if (v instanceof long[][] l) {
        assertArrayEquals(l, (long[][]) back);
      } else {
        assertEquals(v, back);
      }
    }
  }
}
