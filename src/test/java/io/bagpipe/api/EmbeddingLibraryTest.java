package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValue;
import io.bagpipe.TrainingFixtures;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.JavaFlowSupport;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reactivestreams.FlowAdapters;

/**
 * Bagpipe as a library inside a host JVM: the host's own ActorSystem, made from
 * {@code ConfigFactory.load()} with Bagpipe on the classpath, keeps Pekko's defaults
 * (Bagpipe's pekko settings reach only the systems Bagpipe creates), no logback.xml
 * comes with Bagpipe, and a Pekko Streams user consumes a run's events the two ways
 * docs/embedding.md shows.
 */
class EmbeddingLibraryTest {

  @TempDir static Path dir;
  static Path data;
  static ActorSystem<Void> host;

  @BeforeAll
  static void start() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    host = ActorSystem.create(Behaviors.empty(), "host", ConfigFactory.load());
  }

  @AfterAll
  static void stop() {
    host.terminate();
  }

  @Test
  void aHostActorSystemSeesNoneOfBagpipesPekkoSettings() {
    Config hostConfig = host.settings().config();
    String ours = Bagpipe.class.getProtectionDomain().getCodeSource().getLocation().toString();
    Config bagpipePekko = ConfigFactory.load().getConfig("bagpipe.pekko");
    assertFalse(bagpipePekko.isEmpty());
    for (Map.Entry<String, ConfigValue> e : bagpipePekko.entrySet()) {
      if (!hostConfig.hasPath("pekko." + e.getKey())) {
        continue; // Pekko has no default for it (a shutdown phase's own timeout, say)
      }
      ConfigValue seen = hostConfig.getValue("pekko." + e.getKey());
      String from = String.valueOf(seen.origin().url());
      assertFalse(from.startsWith(ours), "pekko." + e.getKey() + " of the host comes from Bagpipe: " + seen.origin());
    }
    // Pekko's own defaults, which Bagpipe's systems replace:
    assertEquals("INFO", hostConfig.getString("pekko.loglevel"));
    assertEquals("WARNING", hostConfig.getString("pekko.stdout-loglevel"));
    assertEquals("", hostConfig.getString("pekko.cluster.downing-provider-class"));
    // The one binding Bagpipe keeps at the top level names its own marker interface only.
    assertEquals("bagpipe-kryo",
        hostConfig.getString("pekko.actor.serialization-bindings.\"io.bagpipe.serialization.BagpipeMessage\""));
  }

  @Test
  void bagpipesOwnSystemsGetItsPekkoSettingsUnderTheApplications() {
    Config plain = PekkoDefaults.applyTo(ConfigFactory.load());
    assertEquals("WARNING", plain.getString("pekko.loglevel"));
    assertEquals(List.of("org.apache.pekko.event.slf4j.Slf4jLogger"), plain.getStringList("pekko.loggers"));
    assertEquals("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider",
        plain.getString("pekko.cluster.downing-provider-class"));
    assertEquals("3 s", plain.getString("pekko.coordinated-shutdown.phases.cluster-leave.timeout"));

    // What the application sets wins: a pekko.* key itself, or Bagpipe's default under bagpipe.pekko.
    Config set = PekkoDefaults.applyTo(ConfigFactory.parseString("""
        pekko.loglevel = DEBUG
        bagpipe.pekko.cluster.split-brain-resolver.stable-after = 3s
        """).withFallback(ConfigFactory.load()).resolve());
    assertEquals("DEBUG", set.getString("pekko.loglevel"));
    assertEquals("3s", set.getString("pekko.cluster.split-brain-resolver.stable-after"));

    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> PekkoDefaults.applyTo(ConfigFactory.parseString("pekko.loglevel = INFO")));
    assertTrue(e.getMessage().startsWith("bagpipe.pekko: "), e.getMessage());
  }

  @Test
  void bagpipeCarriesNoLogbackConfiguration() {
    assertNull(Bagpipe.class.getClassLoader().getResource("logback.xml"),
        "a logback.xml on the classpath would configure the host's logging");
  }

  private static List<RunEvent> withoutSteps(List<RunEvent> events) {
    return events.stream().filter(e -> !(e instanceof RunEvent.StepCompleted)).toList();
  }

  /**
   * A run inside the host's system, its events read by two Pekko Streams at once: through
   * {@code JavaFlowSupport} and through Reactive Streams' {@code FlowAdapters}. Both see the
   * whole run in order (steps from the newest at the time each stream subscribed), and the
   * host's system outlives it.
   */
  @Test
  void pekkoStreamsConsumeARunsEventsInTheHostsSystem() throws Exception {
    BagpipeRun run = Bagpipe.start(TrainingFixtures.config(data, dir.resolve("streams"), "bagpipe.train.epochs=1"), host);
    CompletionStage<List<RunEvent>> viaFlow = JavaFlowSupport.Source.fromPublisher(run.events())
        .runWith(Sink.seq(), host);
    CompletionStage<List<RunEvent>> viaAdapters = Source.fromPublisher(FlowAdapters.toPublisher(run.events()))
        .buffer(1, org.apache.pekko.stream.OverflowStrategy.backpressure()) // a slow, one-at-a-time consumer
        .runWith(Sink.seq(), host);

    RunResult result = run.result().toCompletableFuture().get(3, TimeUnit.MINUTES);
    List<RunEvent> a = viaFlow.toCompletableFuture().get(1, TimeUnit.MINUTES);
    List<RunEvent> b = viaAdapters.toCompletableFuture().get(1, TimeUnit.MINUTES);

    assertEquals(1, result.epochsCompleted());
    assertTrue(a.stream().anyMatch(RunEvent.RunStarted.class::isInstance), a.toString());
    assertEquals(1, a.stream().filter(RunEvent.EpochCompleted.class::isInstance).count(), a.toString());
    assertEquals(result, assertInstanceOf(RunEvent.RunCompleted.class, a.getLast()).result());
    assertTrue(a.stream().noneMatch(RunEvent.EventsDropped.class::isInstance), "nothing dropped under back-pressure");
    // The streams subscribe when they materialise, maybe a few steps in: a late subscriber's
    // history keeps only the newest of the steps so far. Everything else is the same.
    assertEquals(withoutSteps(a), withoutSteps(b));
    for (List<RunEvent> events : List.of(a, b)) {
      List<Integer> steps = events.stream().filter(RunEvent.StepCompleted.class::isInstance)
          .map(e -> ((RunEvent.StepCompleted) e).step()).toList();
      assertEquals(12, steps.getLast(), "12 bags, one per step: " + steps);
      assertEquals(steps.stream().sorted().distinct().toList(), steps, "in order, each once");
      assertEquals(12 - steps.getFirst() + 1, steps.size(), "live from the first one on: " + steps);
    }
    assertFalse(host.getWhenTerminated().toCompletableFuture().isDone(), "the host's system lives on");
  }
}
