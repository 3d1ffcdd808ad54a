package io.bagpipe.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.Registration;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.serializers.CollectionSerializer;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks the length a message claims before Kryo allocates for it. Kryo's array,
 * collection and map serializers read a length and allocate that many elements at
 * once, so about ten bytes from the network could ask for a multi-GiB array. Every
 * element takes at least one byte on the wire (a primitive its own size), so a
 * length whose elements cannot fit in the bytes left of the message is refused
 * before anything is allocated; what is allocated is then bounded by a small multiple
 * of the message's size, which Artery bounds in turn.
 *
 * <p>The guard peeks the length (a variable-length int; for a string Kryo's own
 * encoding of it) and puts the position back, so the wrapped serializer reads as
 * before.
 */
final class LengthGuard<T> extends Serializer<T> {

  /** How the wrapped serializer writes its length. */
  private enum Prefix {
    /** {@code n + 1} as a variable-length int (arrays). */
    VAR_INT,
    /** {@code n} as a variable-length int (maps). */
    LENGTH,
    /** Kryo's string encoding. */
    STRING
  }

  private final Serializer<T> inner;
  private final int elementBytes;
  private final Prefix prefix;

  private LengthGuard(Serializer<T> inner, int elementBytes, Prefix prefix) {
    super(inner.getAcceptsNull(), inner.isImmutable());
    this.inner = inner;
    this.elementBytes = elementBytes;
    this.prefix = prefix;
  }

  /**
   * Wraps the serializer of every registered class whose form starts with a length:
   * arrays, collections, maps and strings.
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  static void guard(Kryo kryo, int maxId) {
    for (int id = 0; id <= maxId; id++) {
      Registration r = kryo.getRegistration(id);
      if (r == null || r.getSerializer() instanceof LengthGuard) {
        continue;
      }
      Class<?> type = r.getType();
      Serializer<?> s = r.getSerializer();
      if (type == String.class) {
        r.setSerializer(new LengthGuard(s, 1, Prefix.STRING));
      } else if (type.isArray()) {
        r.setSerializer(new LengthGuard(s, elementBytes(type.getComponentType()), Prefix.VAR_INT));
      } else if (s instanceof CollectionSerializer<?>) {
        // Where its length sits depends on the element type known from the context, so
        // the check goes where the length arrives: in create().
        boolean immutableList = List.class.isAssignableFrom(type) && type.getName().startsWith("java.util.ImmutableCollections");
        boolean immutableSet = Set.class.isAssignableFrom(type) && type.getName().startsWith("java.util.ImmutableCollections");
        r.setSerializer(immutableList ? new Guarded(c -> List.copyOf(c)) : immutableSet ? new Guarded(c -> Set.copyOf(c))
            : new Guarded(null));
      } else if (Map.class.isAssignableFrom(type)) {
        r.setSerializer(new LengthGuard(s, 2, Prefix.LENGTH)); // a key and a value
      }
    }
  }

  /**
   * Kryo's collection serializer with the size checked before the collection is made;
   * {@code finish} (when not null) turns the list read into an immutable one, as Kryo's
   * serializers for {@code List.of} and {@code Set.of} do.
   */
  @SuppressWarnings({"rawtypes", "unchecked"})
  private static final class Guarded extends CollectionSerializer<Collection> {

    private final java.util.function.Function<Collection, Collection> finish;

    Guarded(java.util.function.Function<Collection, Collection> finish) {
      this.finish = finish;
      setImmutable(finish != null);
    }

    @Override
    protected Collection create(Kryo kryo, Input input, Class<? extends Collection> type, int size) {
      check(type, size, 1, input.limit() - input.position());
      return finish != null ? new java.util.ArrayList(size) : super.create(kryo, input, type, size);
    }

    @Override
    public Collection read(Kryo kryo, Input input, Class<? extends Collection> type) {
      Collection c = super.read(kryo, input, type);
      return finish == null || c == null ? c : finish.apply(c);
    }

    @Override
    public Collection copy(Kryo kryo, Collection original) {
      return finish != null ? original : super.copy(kryo, original);
    }
  }

  private static void check(Class<?> type, long elements, int elementBytes, long left) {
    if (elements > 0 && elements * elementBytes > left) {
      throw new KryoException("a " + type.getSimpleName() + " of " + elements + " elements cannot fit in the "
          + left + " bytes left of the message: it is corrupt or not from a Bagpipe node");
    }
  }

  /** The fewest bytes an element takes on the wire (ints and longs are variable-length, from one byte). */
  private static int elementBytes(Class<?> c) {
    if (c == double.class) {
      return 8;
    }
    if (c == float.class) {
      return 4;
    }
    if (c == short.class || c == char.class) {
      return 2;
    }
    return 1;
  }

  @Override
  public void write(Kryo kryo, Output output, T object) {
    inner.write(kryo, output, object);
  }

  @Override
  public T read(Kryo kryo, Input input, Class<? extends T> type) {
    int at = input.position();
    long elements = prefix == Prefix.STRING ? stringLength(input)
        : prefix == Prefix.LENGTH ? input.readVarInt(true) : input.readVarInt(true) - 1L; // arrays write n + 1, 0 is null
    input.setPosition(at);
    check(type, elements, elementBytes, input.limit() - at);
    return inner.read(kryo, input, type);
  }

  /** The character count of Kryo's string encoding at the position, or 0 for an ASCII run (read as it comes). */
  private static long stringLength(Input input) {
    int b = input.readByte();
    if ((b & 0x80) == 0) {
      return 0;
    }
    long result = b & 0x3F;
    if ((b & 0x40) != 0) {
      int shift = 6;
      do {
        b = input.readByte();
        result |= (long) (b & 0x7F) << shift;
        shift += 7;
      } while ((b & 0x80) != 0 && shift < 35);
    }
    return result - 1; // 0 is null, 1 the empty string
  }

  @Override
  public T copy(Kryo kryo, T original) {
    return inner.copy(kryo, original);
  }
}
