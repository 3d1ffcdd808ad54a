package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.checkpoint.RunState;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resuming a run: what {@link Bagpipe#start} checks before any actor starts. One real
 * run of one epoch writes the checkpoint; each test resumes a copy of its run directory.
 */
class ResumeTest {

  @TempDir static Path dir;
  static Path data;
  static Path written;
  static final String CHECKPOINT = "epoch-0001-step-0000000.ckpt";

  @BeforeAll
  static void oneEpoch() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    written = dir.resolve("written");
    RunResult r = RunTest.run(Bagpipe.start(TrainingFixtures.config(data, written)), new RunTest.Recorder());
    assertEquals(1, r.epochsCompleted());
    assertTrue(Files.exists(written.resolve("checkpoints").resolve(CHECKPOINT)));
  }

  /** A copy of the written run directory, to resume (a resume may move and rewrite files). */
  private static Path copy(String name) throws IOException {
    Path to = dir.resolve(name);
    try (Stream<Path> files = Files.walk(written)) {
      for (Path p : files.toList()) {
        Files.copy(p, to.resolve(written.relativize(p).toString()));
      }
    }
    return to;
  }

  private static void assertMentions(String message, String... parts) {
    for (String part : parts) {
      assertTrue(message.contains(part), "'" + part + "' in:\n" + message);
    }
  }

  @Test
  void changedSettingsAreAllListedBeforeAnyActorStarts() throws IOException {
    Path runDir = copy("changed");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bagpipe.start(
        TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=2", "bagpipe.model.pooling=mean",
            "bagpipe.model.classes=3", "bagpipe.plan.seed=5", "bagpipe.plan.bags-per-step=2",
            "bagpipe.plan.patch-size=32")));
    assertMentions(e.getMessage(), runDir.resolve("checkpoints").resolve(CHECKPOINT).toString(),
        "bagpipe.model.pooling: checkpoint has attention, configuration has mean",
        "bagpipe.model.classes: checkpoint has 2, configuration has 3",
        "bagpipe.plan.seed: checkpoint has 0, configuration has 5",
        "bagpipe.plan.patch-size: checkpoint has 64, configuration has 32",
        "bagpipe.train.run-dir");
    assertFalse(e.getMessage().contains("bagpipe.model.encoder"), e.getMessage());
  }

  @Test
  void anotherEncoderIsRefused() throws IOException {
    Path runDir = copy("encoder");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bagpipe.start(
        TrainingFixtures.config(data, runDir, "bagpipe.model.encoder=resnet18")));
    assertMentions(e.getMessage(), CHECKPOINT, "bagpipe.model.encoder: checkpoint has mil-cnn-s, configuration has resnet18");
  }

  /**
   * A resume on another number of workers, or with another bags-per-step, keeps the bags of
   * a step the run started with: its plan position means the same steps (docs/adr/0008).
   */
  @Test
  void aResumeOnMoreWorkersKeepsTheBagsOfAStep() throws IOException {
    Path runDir = copy("workers");
    RunSpec spec = Bagpipe.spec(TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=2",
        "bagpipe.worker.devices=[cpu,cpu]", "bagpipe.plan.bags-per-step=2"));
    assertEquals("1", spec.start().extras().get("step_bags"));
  }

  /** A setting not recorded (attention-dim) still cannot make the workers fail to load: spec builds the model. */
  @Test
  void parametersThatDoNotFitTheModelAreRefusedBeforeAnyWorker() throws IOException {
    Path runDir = copy("attention-dim");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bagpipe.start(
        TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=2", "bagpipe.model.attention-dim=8")));
    assertMentions(e.getMessage(), CHECKPOINT, "do not fit", "has shape", "attention-dim", "bagpipe.train.run-dir");
  }

  /** Checkpoints written before these settings were recorded resume; they gain the records. */
  @Test
  void aCheckpointWithoutRecordedSettingsIsAcceptedForThem() throws Exception {
    Path runDir = dir.resolve("old");
    Checkpoint c = RunTest.latest(written);
    RunState s = c.state();
    CheckpointStore store = new CheckpointStore(runDir.resolve("checkpoints"), 2);
    store.saveLast(new Checkpoint(new RunState(s.epoch(), s.step(), s.globalStep(), s.seed(), s.bestMetric(),
        s.bestValue(), s.bestEpoch(), Map.of("encoder", "mil-cnn-s")), c.parameters(), c.optimizerState()));
    RunSpec spec = Bagpipe.spec(TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=2",
        "bagpipe.plan.bags-per-step=2", "bagpipe.plan.patch-size=32"));
    assertEquals(1, spec.start().epoch());
    assertEquals("2", spec.start().extras().get("bags_per_step"));
    assertEquals("32", spec.start().extras().get("patch_size"));
    // The seed is recorded in every checkpoint's run state.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bagpipe.spec(
        TrainingFixtures.config(data, runDir, "bagpipe.plan.seed=3")));
    assertMentions(e.getMessage(), "bagpipe.plan.seed: checkpoint has 0, configuration has 3");
  }

  /**
   * A kill after epoch 1's line was appended and before its checkpoint: the run resumes at
   * epoch 1 and must not record it twice. Unchanged settings resume.
   */
  @Test
  void theSameSettingsResumeAndLinesOfEpochsRunAgainAreDropped() throws IOException {
    Path runDir = copy("same");
    Path metrics = runDir.resolve("metrics.jsonl");
    List<String> before = Files.readAllLines(metrics, StandardCharsets.UTF_8);
    assertEquals(1, before.size());
    Files.writeString(metrics, before.getFirst().replace("{\"epoch\":0,", "{\"epoch\":1,") + "\n",
        StandardOpenOption.APPEND);
    RunSpec spec = Bagpipe.spec(TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=2"));
    assertEquals(1, spec.start().epoch());
    assertEquals(before, Files.readAllLines(metrics, StandardCharsets.UTF_8));
    assertEquals("mil-cnn-s", spec.start().extras().get("encoder"));
  }

  @Test
  void checkpointsThatAreAllCorruptFailTheStartEveryTime() throws IOException {
    Path runDir = copy("corrupt");
    Path checkpoints = runDir.resolve("checkpoints");
    Path only = checkpoints.resolve(CHECKPOINT);
    byte[] bytes = Files.readAllBytes(only);
    bytes[bytes.length / 2] ^= 1;
    Files.write(only, bytes);
    for (int start = 0; start < 2; start++) {
      UncheckedIOException e = assertThrows(UncheckedIOException.class,
          () -> Bagpipe.start(TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=2")));
      assertMentions(e.getMessage(), checkpoints.toString(), only.toString(), "aside",
          "bagpipe.train.resume = false", "bagpipe.train.run-dir");
      assertTrue(Files.exists(only), "the checkpoint stays where it was");
    }
  }

  /** A copy of the data set, with {@code edit} applied to it. */
  private static Path dataCopy(String name, java.util.function.Consumer<Path> edit) throws IOException {
    Path to = dir.resolve(name);
    try (Stream<Path> files = Files.walk(data)) {
      for (Path p : files.toList()) {
        Files.copy(p, to.resolve(data.relativize(p).toString()));
      }
    }
    edit.accept(to);
    return to;
  }

  @Test
  void theRunDirectoryKeepsConfigClassMapAndDataDigests() throws IOException {
    String conf = Files.readString(written.resolve("config.conf"));
    assertMentions(conf, "bagpipe", "run-dir", written.toString(), "resume-despite-changes");
    com.typesafe.config.Config parsed = com.typesafe.config.ConfigFactory.parseString(conf);
    assertEquals(64, parsed.getInt("bagpipe.plan.patch-size"));
    assertEquals("{\"named\":false,\"classes\":[\"0\",\"1\"]}", Files.readString(written.resolve("classes.json")).trim());
    io.bagpipe.bag.DataDigest d = io.bagpipe.bag.DataDigest.parse(Files.readString(written.resolve("data-digest.json")));
    assertEquals(1 + 8, d.files().size(), d.files().toString());
    assertEquals(io.bagpipe.bag.DataDigest.sha256(data.resolve("manifest.csv")), d.files().get("manifest.csv"));
    assertEquals(io.bagpipe.bag.DataDigest.sha256(data.resolve("coords/s03.csv")), d.files().get("coords/s03.csv"));
    assertTrue(Files.readString(written.resolve("data-digest.json")).contains("\"bagpipe_version\""));
    Checkpoint c = CheckpointStore.open(io.bagpipe.checkpoint.CheckpointSettings.fromConfig(
        TrainingFixtures.config(data, written).getConfig("bagpipe.checkpoint")), written).latest().orElseThrow()
        .checkpoint();
    assertEquals(d.total(), c.state().extras().get("data_digest"));
    assertEquals("0,1", c.state().extras().get("class_map"));
  }

  @Test
  void aChangedDataSetOrSeedIsRefusedNamingTheFileUnlessToldToGoOn() throws IOException {
    Path changed = dataCopy("data-changed", d -> {
      try {
        Files.writeString(d.resolve("coords/s05.csv"), "10,10\n", StandardOpenOption.APPEND);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
    Path runDir = copy("data-changed-run");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bagpipe.spec(
        TrainingFixtures.config(changed, runDir, "bagpipe.train.epochs=2", "bagpipe.plan.seed=3")));
    assertMentions(e.getMessage(), "coords/s05.csv (changed)", "bagpipe.plan.seed: checkpoint has 0",
        "bagpipe.train.resume-despite-changes = true");
    assertFalse(e.getMessage().contains("manifest.csv (changed)"), e.getMessage());
    String before = Files.readString(runDir.resolve("data-digest.json"));
    RunSpec spec = Bagpipe.spec(TrainingFixtures.config(changed, runDir, "bagpipe.train.epochs=2",
        "bagpipe.plan.seed=3", "bagpipe.train.resume-despite-changes=true"));
    assertEquals(1, spec.start().epoch());
    assertEquals(io.bagpipe.bag.DataDigest.sha256(changed.resolve("coords/s05.csv")),
        io.bagpipe.bag.DataDigest.parse(Files.readString(runDir.resolve("data-digest.json"))).files()
            .get("coords/s05.csv"));
    assertFalse(before.equals(Files.readString(runDir.resolve("data-digest.json"))));
  }

  @Test
  void anotherClassMapIsRefusedEvenWhenToldToGoOn() throws IOException {
    Path named = dataCopy("data-named", d -> {
      try {
        Path m = d.resolve("manifest.csv");
        Files.writeString(m, Files.readString(m).replace(",0,", ",normal,").replace(",1,", ",tumor,"));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
    Path runDir = copy("class-map");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bagpipe.spec(
        TrainingFixtures.config(named, runDir, "bagpipe.train.epochs=2", "bagpipe.train.resume-despite-changes=true")));
    assertMentions(e.getMessage(), "class map", "checkpoint has 0,1, configuration has normal,tumor");
  }
}
