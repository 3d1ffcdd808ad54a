package io.bagpipe.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;

/** Typed {@link ActorRef}s travel as Pekko's serialisation format string. */
final class ActorRefSerializer extends Serializer<ActorRef<?>> {

  private final Supplier<ActorRefResolver> resolver;
  private volatile ActorRefResolver cached;

  ActorRefSerializer(Supplier<ActorRefResolver> resolver) {
    this.resolver = resolver;
    setImmutable(true);
  }

  private ActorRefResolver resolver() {
    ActorRefResolver r = cached;
    if (r == null) {
      r = resolver.get();
      cached = r;
    }
    return r;
  }

  @Override
  public void write(Kryo kryo, Output output, ActorRef<?> ref) {
    output.writeString(resolver().toSerializationFormat(ref));
  }

  @Override
  public ActorRef<?> read(Kryo kryo, Input input, Class<? extends ActorRef<?>> type) {
    return resolver().resolveActorRef(input.readString());
  }
}
