package io.bagpipe.serialization;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.serializers.ImmutableCollectionsSerializers;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Which classes Kryo may write, and their ids. Starting from the protocol roots
 * named in configuration (sealed interfaces of messages), it walks the permitted
 * subclasses and the record components' types (with their generic arguments),
 * collecting every record, enum and array reachable from a message, and skipping
 * {@link NodeLocal} messages, which never leave their JVM. The classes are sorted
 * by name before ids are given, so every node that runs the same code agrees on
 * the ids without talking.
 */
public final class Registrations {

  /** First id given to a Bagpipe class; below it are Kryo's and the fixed ones here. */
  static final int FIRST_ID = 100;

  private Registrations() {}

  /** The classes reachable from {@code protocols}, in registration order. */
  public static List<Class<?>> classes(List<String> protocols, ClassLoader loader) {
    Set<Class<?>> found = new LinkedHashSet<>();
    for (String name : protocols) {
      Class<?> root;
      try {
        root = Class.forName(name, false, loader);
      } catch (ClassNotFoundException e) {
        throw new IllegalArgumentException(
            "bagpipe.serialization.protocols names " + name + ", which is not on the classpath", e);
      }
      walk(root, found);
    }
    List<Class<?>> sorted = new ArrayList<>(found);
    sorted.sort(Comparator.comparing(Class::getName));
    return sorted;
  }

  private static void walk(Type type, Set<Class<?>> found) {
    switch (type) {
      case ParameterizedType p -> {
        walk(p.getRawType(), found);
        for (Type arg : p.getActualTypeArguments()) {
          walk(arg, found);
        }
      }
      case GenericArrayType g -> walk(g.getGenericComponentType(), found);
      case Class<?> c -> walkClass(c, found);
      default -> {}
    }
  }

  private static void walkClass(Class<?> c, Set<Class<?>> found) {
    if (c.isArray()) {
      walk(c.getComponentType(), found);
      if (!c.getComponentType().isPrimitive() && c.getComponentType().getName().startsWith("io.bagpipe.")) {
        found.add(c);
      }
      return;
    }
    if (NodeLocal.class.isAssignableFrom(c) || !c.getName().startsWith("io.bagpipe.") || found.contains(c)) {
      return;
    }
    if (c.isSealed()) {
      for (Class<?> sub : c.getPermittedSubclasses()) {
        walk(sub, found);
      }
    }
    if (c.isInterface() || java.lang.reflect.Modifier.isAbstract(c.getModifiers())) {
      return;
    }
    found.add(c);
    if (c.isRecord()) {
      for (RecordComponent rc : c.getRecordComponents()) {
        walk(rc.getGenericType(), found);
      }
    } else if (!c.isEnum()) {
      // A plain data class (e.g. ConfusionMatrix) travels field by field.
      for (java.lang.reflect.Field f : c.getDeclaredFields()) {
        if (!java.lang.reflect.Modifier.isStatic(f.getModifiers())) {
          walk(f.getGenericType(), found);
        }
      }
    }
  }

  /** A Kryo instance with registration required and {@code classes} registered in order. */
  static Kryo newKryo(List<Class<?>> classes, ActorRefSerializer refs) {
    Kryo kryo = new Kryo();
    kryo.setRegistrationRequired(true);
    kryo.setReferences(false);
    kryo.setInstantiatorStrategy(
        new com.esotericsoftware.kryo.util.DefaultInstantiatorStrategy(new org.objenesis.strategy.StdInstantiatorStrategy()));
    int id = 20;
    for (Class<?> c :
        List.of(int[].class, long[].class, float[].class, double[].class, byte[].class, boolean[].class,
            String[].class, long[][].class, double[][].class, java.util.ArrayList.class, java.util.HashMap.class,
            java.util.LinkedHashMap.class, java.util.TreeMap.class, java.util.Optional.class)) {
      kryo.register(c, id++);
    }
    UnmodifiableMapSerializer.register(kryo, id);
    ImmutableCollectionsSerializers.addDefaultSerializers(kryo);
    ImmutableCollectionsSerializers.registerSerializers(kryo);
    registerActorRefs(kryo, refs, 60);
    id = FIRST_ID;
    for (Class<?> c : classes) {
      kryo.register(c, id++);
    }
    LengthGuard.guard(kryo, id);
    return kryo;
  }

  /** Typed ActorRefs are adapters over classic refs; one class covers local and remote ones. */
  private static void registerActorRefs(Kryo kryo, ActorRefSerializer refs, int id) {
    try {
      kryo.register(Class.forName("org.apache.pekko.actor.typed.internal.adapter.ActorRefAdapter"), refs, id);
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException("Pekko's typed ActorRefAdapter is not on the classpath", e);
    }
  }
}
