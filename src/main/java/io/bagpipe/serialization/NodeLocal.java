package io.bagpipe.serialization;

import org.apache.pekko.actor.NoSerializationVerificationNeeded;

/**
 * Marker of the few messages that carry a live, node-local resource (a decoded
 * bag's off-heap pixel buffer) between actors of one JVM. They are never sent to
 * another node, so they are exempt from serialisation checks; anything that
 * crosses the cluster carries coordinates ({@code BagRef}s), never pixels.
 */
public interface NodeLocal extends BagpipeMessage, NoSerializationVerificationNeeded {}
