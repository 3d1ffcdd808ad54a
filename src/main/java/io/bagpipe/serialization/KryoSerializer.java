package io.bagpipe.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.ByteBufferInput;
import com.esotericsoftware.kryo.io.ByteBufferOutput;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.util.Pool;
import java.io.NotSerializableException;
import java.nio.ByteBuffer;
import java.util.List;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.ByteBufferSerializer;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/**
 * Pekko serializer for every {@link BagpipeMessage}, backed by Kryo with
 * registration required: a class that is not registered is refused with an
 * error naming it, so nothing falls back to Java serialisation by accident.
 * Registration ids are assigned by {@link Registrations} from the protocols named
 * in {@code bagpipe.serialization.protocols}, identically on every node.
 *
 * <p>Implements {@link ByteBufferSerializer} so Artery writes messages (and the
 * bulk {@code float[]} of gradients) straight into its own buffers.
 */
public final class KryoSerializer extends SerializerWithStringManifest implements ByteBufferSerializer {

  /** Pekko serializer id (0-40 are Pekko's). */
  public static final int IDENTIFIER = 7_341;
  private static final String MANIFEST = "k";

  private final Pool<Kryo> kryos;
  private final Pool<Output> outputs;

  public KryoSerializer(ExtendedActorSystem system) {
    List<String> protocols = system.settings().config().getStringList("bagpipe.serialization.protocols");
    ActorRefSerializer refs = new ActorRefSerializer(() -> ActorRefResolver.get(Adapter.toTyped(system)));
    List<Class<?>> classes = Registrations.classes(protocols, getClass().getClassLoader());
    this.kryos =
        new Pool<>(true, false, 32) {
          @Override
          protected Kryo create() {
            return Registrations.newKryo(classes, refs);
          }
        };
    this.outputs =
        new Pool<>(true, false, 32) {
          @Override
          protected Output create() {
            return new Output(4096, -1);
          }
        };
  }

  @Override
  public int identifier() {
    return IDENTIFIER;
  }

  @Override
  public String manifest(Object o) {
    return MANIFEST;
  }

  @Override
  public byte[] toBinary(Object o) {
    Kryo kryo = kryos.obtain();
    Output out = outputs.obtain();
    try {
      out.reset();
      kryo.writeClassAndObject(out, o);
      return out.toBytes();
    } catch (KryoException | IllegalArgumentException e) {
      throw refused(o, e);
    } finally {
      outputs.free(out);
      kryos.free(kryo);
    }
  }

  @Override
  public void toBinary(Object o, ByteBuffer buf) {
    Kryo kryo = kryos.obtain();
    try {
      ByteBufferOutput out = new ByteBufferOutput(buf);
      kryo.writeClassAndObject(out, o);
      out.flush(); // writes from, and advances, buf's own position
    } catch (KryoException | IllegalArgumentException e) {
      throw refused(o, e);
    } finally {
      kryos.free(kryo);
    }
  }

  @Override
  public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
    Kryo kryo = kryos.obtain();
    try {
      return kryo.readClassAndObject(new Input(bytes));
    } catch (KryoException | IllegalArgumentException e) {
      throw notSerializable(e);
    } finally {
      kryos.free(kryo);
    }
  }

  @Override
  public Object fromBinary(ByteBuffer buf, String manifest) throws NotSerializableException {
    Kryo kryo = kryos.obtain();
    try {
      return kryo.readClassAndObject(new ByteBufferInput(buf));
    } catch (KryoException | IllegalArgumentException e) {
      throw notSerializable(e);
    } finally {
      kryos.free(kryo);
    }
  }

  private static IllegalArgumentException refused(Object o, RuntimeException e) {
    return new IllegalArgumentException(
        "cannot serialise " + o.getClass().getName() + " with Bagpipe's Kryo serializer: " + e.getMessage()
            + " (every message type must be reachable from a protocol listed in bagpipe.serialization.protocols)",
        e);
  }

  private static NotSerializableException notSerializable(RuntimeException e) {
    NotSerializableException n = new NotSerializableException("Kryo could not read a Bagpipe message: " + e.getMessage());
    n.initCause(e);
    return n;
  }
}
