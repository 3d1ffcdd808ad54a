package io.bagpipe.serialization;

/**
 * Marker of every actor message in Bagpipe. Pekko binds Bagpipe's Kryo
 * serializer to this type, so a message that crosses nodes (or is verified
 * under {@code pekko.actor.serialize-messages = on}) must be registered with Kryo.
 */
public interface BagpipeMessage {}
