package io.bagpipe.serialization;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.api.RunEvent;
import io.bagpipe.api.RunResult;
import io.bagpipe.bag.BagRef;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.cli.ConfigOptions;
import io.bagpipe.coordinator.ConfusionMatrix;
import io.bagpipe.coordinator.Coordinator;
import io.bagpipe.coordinator.EpochRecord;
import io.bagpipe.coordinator.StageTimes;
import io.bagpipe.worker.Worker;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class KryoSerializerTest {

  static ActorTestKit kit;
  static Serialization serialization;

  @BeforeAll
  static void start() {
    kit = ActorTestKit.create(ConfigOptions.defaults(List.of()));
    serialization = SerializationExtension.get(Adapter.toClassic(kit.system()));
  }

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
  }

  /** Serialises with the serializer Pekko picks, in both its byte[] and ByteBuffer forms. */
  static Object roundTrip(Object o) throws Exception {
    Serializer s = serialization.findSerializerFor(o);
    assertEquals(KryoSerializer.IDENTIFIER, s.identifier(), "Bagpipe messages use the Kryo serializer");
    byte[] bytes = serialization.serialize(o).get();
    Object back = serialization.deserialize(bytes, s.identifier(), "k").get();
    KryoSerializer kryo = (KryoSerializer) s;
    ByteBuffer buf = ByteBuffer.allocate(bytes.length + 64);
    kryo.toBinary(o, buf);
    buf.flip();
    Object viaBuffer = kryo.fromBinary(buf, "k");
    assertEquals(back.getClass(), viaBuffer.getClass());
    return back;
  }

  static final Worker.Issuer ISSUER = new Worker.Issuer(0x1234_5678_9abc_def0L, -42L);
  static final BagRef BAG = new BagRef("slide_001", "/data/slides/slide_001.tif", 1, new int[] {37, 37, 261, 37}, 224, 0, 3, 17L);

  static RunState state() {
    return RunState.start(7, "val_auc", Map.of("encoder", "mil-cnn-s")).at(2, 5, 40).withBest(0.93, 1);
  }

  static EpochRecord record() {
    return new EpochRecord(1, 0.5, 0.4, 0.9, 0.95, ConfusionMatrix.of(new long[][] {{4, 1}, {0, 5}}), 3.2, 64, 10, 12.5,
        new StageTimes(1, 2, 3, 4, 5, 6), new TreeMap<>(Map.of("skipped_bags", 0, "replica_digest", "00ff")));
  }

  @Test
  void everyKindOfMessageRoundTrips() throws Exception {
    TestProbe<Worker.Reply> coordinator = kit.createTestProbe();
    TestProbe<Worker.Command> worker = kit.createTestProbe();
    List<Object> messages = List.of(
        new Worker.TrainStep(ISSUER, 2, 3, 2, 40, List.of(BAG), coordinator.getRef()),
        new Worker.Evaluate(ISSUER, 2, 3, 5, List.of(BAG), coordinator.getRef()),
        new Worker.SaveCheckpoint(ISSUER, state(), true, coordinator.getRef()),
        new Worker.LeaveRing(ISSUER, 2, coordinator.getRef()),
        new Worker.Stop(ISSUER),
        new Worker.WorkerReady("cpu", "10.0.0.5:40123", worker.getRef(), new Worker.Applied(2, 39, 3, 7)),
        new Worker.RingJoined(3, 1),
        new Worker.Introduce(ISSUER, Worker.Proof.NONE, coordinator.getRef()),
        new Worker.JoinRing(ISSUER, 3, 1, List.of("10.0.0.5:40123", "10.0.0.6:40123"), 40, coordinator.getRef()),
        new Worker.SendState(ISSUER, 7, "10.0.0.6:40123", state(), coordinator.getRef()),
        new Worker.ReceiveState(ISSUER, 7, coordinator.getRef()),
        new Worker.StateSent(0, 7, 0x1234L, ""),
        new Worker.Healed(7, 0x1234L, "", worker.getRef()),
        new RunEvent.RunPaused(1, 2, 300, "rank 1"),
        new Worker.StepDone(1, 2, 3, 7, 1, 2, 0.69, new Worker.StageNanos(1, 2, 3, 4, 5, 6),
            new Worker.LoaderCounts(7, 8, 9, 10)),
        new Worker.BagSkipped(1, 2, 3, 7, 17, "slide_001", "cannot read region"),
        new Worker.CheckpointWritten(0, state(), "/runs/a/epoch-0002.ckpt", "", ""),
        new Worker.RingLeft(1, 2, new Worker.Applied(2, 39, 3, 7), worker.getRef()),
        new Worker.RingBroken(1, 2, 3, 7, 0, true, "lost the connection from its left neighbour"),
        Coordinator.Stop.INSTANCE,
        new RunEvent.RunStarted("/runs/a", 2, 10, 0, 0, 12, 4),
        new RunEvent.StepCompleted(3, 7, 12, 0.69, 4.5, 14),
        new RunEvent.EpochCompleted(record()),
        new RunEvent.RunCompleted(new RunResult(3, false, "val_auc", 0.95, 1, record(), "/a", "/b")),
        new RunEvent.RingReformed(3, 2, "lost rank 1"),
        new RunEvent.TestScored(new io.bagpipe.coordinator.TestResult(10, 4, 8, 0.3, 0.75, 0.9,
            ConfusionMatrix.of(new long[][] {{2, 0}, {1, 1}}), List.of("s09"), 2)),
        new RunEvent.RunFailed("worker 1 stopped"));
    for (Object m : messages) {
      Object back = roundTrip(m);
      assertEquals(m.getClass(), back.getClass());
      if (!(m instanceof Worker.TrainStep) && !(m instanceof Worker.Evaluate)) {
        assertEquals(m.toString(), back.toString(), m.getClass().getSimpleName());
      }
    }
    Worker.TrainStep step = (Worker.TrainStep) roundTrip(messages.getFirst());
    assertEquals(BAG, step.bags().getFirst());
    assertEquals(40, step.globalStep());
    assertEquals(coordinator.getRef(), step.replyTo());
    assertEquals(ISSUER, step.from(), "all 128 bits of the issuer travel");
    Worker.Introduce proved = new Worker.Introduce(ISSUER, new Worker.Proof(0x0fed_cba9_8765_4321L, -7L),
        coordinator.getRef());
    assertEquals(proved, roundTrip(proved), "issuer, proof and reply address travel whole");
    Worker.Evaluated ev = (Worker.Evaluated) roundTrip(new Worker.Evaluated(1, 2, 3, 5,
        List.of(new Worker.BagScore(17, "slide_001", 1, new float[] {0.25f, 0.75f}, 0.28)), 42L));
    assertArrayEquals(new float[] {0.25f, 0.75f}, ev.scores().getFirst().probabilities());
    assertEquals(42L, ev.parameterDigest());
    EpochRecord r = ((RunEvent.EpochCompleted) roundTrip(new RunEvent.EpochCompleted(record()))).record();
    assertEquals(record().toJson(), r.toJson());
  }

  /** A message type no protocol reaches: must be refused, not silently Java-serialised. */
  record Unlisted(int x) implements BagpipeMessage {}

  @Test
  void anUnregisteredMessageIsRefusedWithItsName() {
    var e = assertThrows(IllegalArgumentException.class, () -> serialization.serialize(new Unlisted(1)).get());
    assertTrue(e.getMessage().contains(Unlisted.class.getName()), e.getMessage());
    assertTrue(e.getMessage().contains("bagpipe.serialization.protocols"), e.getMessage());
  }

  record Plain(int x) implements Serializable {}

  @Test
  void javaSerialisationIsOff() {
    assertThrows(Exception.class, () -> serialization.serialize(new Plain(1)).get());
  }

  @Test
  void everyMessageClassInTheCodebaseIsRegisteredOrNodeLocal() throws Exception {
    List<Class<?>> registered = Registrations.classes(
        kit.system().settings().config().getStringList("bagpipe.serialization.protocols"), getClass().getClassLoader());
    Path classes = Path.of(BagpipeMessage.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    List<String> missing = new ArrayList<>();
    try (Stream<Path> files = Files.walk(classes)) {
      for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".class"))::iterator) {
        String name = classes.relativize(f).toString().replace('/', '.').replaceAll("\\.class$", "");
        Class<?> c = Class.forName(name, false, getClass().getClassLoader());
        if (BagpipeMessage.class.isAssignableFrom(c) && !c.isInterface() && !NodeLocal.class.isAssignableFrom(c)
            && !registered.contains(c)) {
          missing.add(name);
        }
      }
    }
    assertEquals(List.of(), missing, "message classes no protocol in bagpipe.serialization.protocols reaches");
  }

  @Test
  void registrationIdsDoNotDependOnProtocolOrder() {
    List<String> p = new ArrayList<>(kit.system().settings().config().getStringList("bagpipe.serialization.protocols"));
    List<Class<?>> a = Registrations.classes(p, getClass().getClassLoader());
    java.util.Collections.reverse(p);
    assertEquals(a, Registrations.classes(p, getClass().getClassLoader()));
  }
}
