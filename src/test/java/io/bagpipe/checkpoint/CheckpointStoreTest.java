package io.bagpipe.checkpoint;

import static io.bagpipe.checkpoint.CheckpointFileTest.assertBitExact;
import static io.bagpipe.checkpoint.CheckpointFileTest.sample;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class CheckpointStoreTest {

  @TempDir Path dir;

  private List<String> names() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @ParameterizedTest(name = "keep-last = {0}")
  @ValueSource(ints = {1, 2, 3, 5})
  void keepsExactlyTheNewestVersions(int keepLast) throws IOException {
    CheckpointStore store = new CheckpointStore(dir, keepLast);
    List<String> written = new ArrayList<>();
    for (int epoch = 0; epoch < 3; epoch++) {
      for (long step = 0; step < 3; step++) {
        written.add(store.saveLast(sample(epoch, step * 40, 100)).getFileName().toString());
      }
    }
    List<String> newest = written.subList(written.size() - keepLast, written.size());
    assertEquals(newest, names());
    assertEquals(newest.reversed(), store.versionedFiles().stream().map(p -> p.getFileName().toString()).toList());
    assertBitExact(sample(2, 80, 100), store.loadLatest().orElseThrow());
  }

  @Test
  void positionsOrderNumericallyBeyondTheNameWidth() throws IOException {
    CheckpointStore store = new CheckpointStore(dir, 2);
    store.saveLast(sample(9_999, 9_999_999, 4));
    Path wide = store.saveLast(sample(10_000, 0, 4));
    assertEquals("epoch-10000-step-0000000.ckpt", wide.getFileName().toString());
    assertEquals(10_000, store.loadLatest().orElseThrow().state().epoch());
  }

  @Test
  void emptyOrMissingFolderHasNothingToResume() throws IOException {
    assertTrue(new CheckpointStore(dir.resolve("not-yet"), 2).loadLatest().isEmpty());
    assertTrue(new CheckpointStore(dir, 2).loadLatest().isEmpty());
    assertTrue(new CheckpointStore(dir, 2).loadBest().isEmpty());
  }

  @Test
  void crashLeftoversAndATornNewestFallBackToThePreviousGoodOne() throws IOException {
    CheckpointStore store = new CheckpointStore(dir, 3);
    store.saveLast(sample(1, 10, 5_000));
    store.saveLast(sample(1, 20, 5_000));
    Path newest = store.saveLast(sample(1, 30, 5_000));
    // A crash during a later save: its temporary file is half written ...
    Path leftover = dir.resolve("epoch-0001-step-0000040.ckpt.4242-abc.tmp");
    Files.write(leftover, Files.readAllBytes(newest), java.nio.file.StandardOpenOption.CREATE_NEW);
    try (RandomAccessFile f = new RandomAccessFile(leftover.toFile(), "rw")) {
      f.setLength(f.length() / 3);
    }
    // ... and the newest renamed file lost its tail (a file system that lied about force).
    try (RandomAccessFile f = new RandomAccessFile(newest.toFile(), "rw")) {
      f.setLength(f.length() - 100);
    }

    Recovery r = store.recover();
    var found = assertInstanceOf(Recovery.Found.class, r);
    assertEquals(dir.resolve("epoch-0001-step-0000020.ckpt"), found.file());
    assertBitExact(sample(1, 20, 5_000), found.checkpoint());
    assertEquals(List.of(leftover), r.leftoversRemoved());
    assertEquals(1, r.rejected().size());
    assertEquals(newest, r.rejected().getFirst().file());
    assertTrue(r.rejected().getFirst().reason().startsWith(newest.toString()), r.rejected().getFirst().reason());
    assertEquals(List.of("epoch-0001-step-0000010.ckpt", "epoch-0001-step-0000020.ckpt", "epoch-0001-step-0000030.ckpt.corrupt"),
        names());

    // The resumed run saves the same position again; the corrupt file stays aside for inspection.
    store.saveLast(sample(1, 30, 5_000));
    store.saveLast(sample(1, 40, 5_000));
    assertEquals(List.of("epoch-0001-step-0000020.ckpt", "epoch-0001-step-0000030.ckpt",
        "epoch-0001-step-0000030.ckpt.corrupt", "epoch-0001-step-0000040.ckpt"), names());
    assertBitExact(sample(1, 40, 5_000), store.loadLatest().orElseThrow());
  }

  @Test
  void allCorruptIsNothingFoundAndTheFilesStayWhereTheyAre() throws IOException {
    CheckpointStore store = new CheckpointStore(dir, 2);
    Path only = store.saveLast(sample(0, 5, 10));
    Files.write(only, new byte[] {1, 2, 3});
    var r = assertInstanceOf(Recovery.NothingFound.class, store.recover());
    assertEquals(only, r.rejected().getFirst().file());
    assertEquals(only, r.rejected().getFirst().movedTo());
    assertEquals(List.of("epoch-0000-step-0000005.ckpt"), names());
  }

  /** A run whose checkpoints are all corrupt must not silently start from scratch, now or at the next start. */
  @Test
  void loadingWhenEveryVersionIsCorruptFailsNamingFolderFilesAndWhatToDo() throws IOException {
    CheckpointStore store = new CheckpointStore(dir, 2);
    Path older = store.saveLast(sample(0, 5, 10));
    Path newer = store.saveLast(sample(0, 6, 10));
    Files.write(older, new byte[] {1, 2, 3});
    try (RandomAccessFile f = new RandomAccessFile(newer.toFile(), "rw")) {
      f.setLength(f.length() - 1);
    }
    for (int start = 0; start < 2; start++) {
      var e = assertThrows(CheckpointException.NoneReadable.class, store::loadLatest);
      assertEquals(dir, e.file());
      for (String part : new String[] {dir.toString(), older.toString(), newer.toString(), "Move", "aside",
          "bagpipe.train.resume = false", "bagpipe.train.run-dir"}) {
        assertTrue(e.getMessage().contains(part), part + " in: " + e.getMessage());
      }
      assertEquals(2, e.reasons().size());
      assertTrue(e.reasons().getFirst().startsWith(newer.toString()), e.reasons().getFirst());
      assertEquals(List.of("epoch-0000-step-0000005.ckpt", "epoch-0000-step-0000006.ckpt"), names());
    }
    // Moved aside as the message says: nothing to resume from, a fresh start.
    for (Path p : List.of(older, newer)) {
      Files.move(p, p.resolveSibling(p.getFileName() + ".corrupt"));
    }
    assertTrue(store.loadLatest().isEmpty());
  }

  @Test
  void newestOfAnotherFormatVersionStopsRecoveryInsteadOfBeingPassedOver() throws IOException {
    CheckpointStore store = new CheckpointStore(dir, 2);
    store.saveLast(sample(0, 5, 10));
    Path newest = store.saveLast(sample(0, 6, 10));
    try (RandomAccessFile f = new RandomAccessFile(newest.toFile(), "rw")) {
      f.seek(8);
      f.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(9).array());
    }
    var e = assertThrows(CheckpointException.Unsupported.class, store::loadLatest);
    assertEquals(newest, e.file());
    assertTrue(Files.exists(newest));
  }

  @Test
  void refusesToSaveBehindALaterCheckpointItDidNotResumeFrom() throws IOException {
    CheckpointStore store = new CheckpointStore(dir, 1);
    store.saveLast(sample(4, 0, 10));
    var e = assertThrows(IllegalStateException.class, () -> store.saveLast(sample(0, 10, 10)));
    assertTrue(e.getMessage().contains("epoch-0004-step-0000000.ckpt"), e.getMessage());
    assertTrue(e.getMessage().contains("bagpipe.checkpoint.dir"), e.getMessage());
    assertEquals(List.of("epoch-0004-step-0000000.ckpt"), names());
  }

  @Test
  void bestIsReplacedAtomicallyAndIndependentOfVersions() throws IOException {
    CheckpointStore store = new CheckpointStore(dir, 1);
    store.saveBest(sample(1, 0, 100));
    store.saveBest(sample(2, 0, 100));
    store.saveLast(sample(3, 0, 100));
    store.saveLast(sample(3, 1, 100));
    assertEquals(List.of("best.ckpt", "epoch-0003-step-0000001.ckpt"), names());
    assertBitExact(sample(2, 0, 100), store.loadBest().orElseThrow());
    Files.write(dir.resolve("best.ckpt"), new byte[64]);
    assertThrows(CheckpointException.Corrupt.class, store::loadBest);
  }

  static Config config(String overrides) {
    return ConfigFactory.parseString(overrides)
        .withFallback(ConfigFactory.parseResources(CheckpointStoreTest.class.getClassLoader(), "reference.conf"))
        .resolve();
  }

  @Test
  void settingsFromReferenceConf() {
    CheckpointSettings s = CheckpointSettings.fromConfig(config("").getConfig("bagpipe.checkpoint"));
    assertEquals(new CheckpointSettings(Path.of("checkpoints"), 2, "val_auc", BestMode.MAX), s);
    assertEquals(Path.of("run/7/checkpoints"), s.resolveDir(Path.of("run/7")));
    assertEquals(BestMode.MIN, CheckpointSettings.fromConfig(
        config("bagpipe.checkpoint.best-mode = MIN").getConfig("bagpipe.checkpoint")).bestMode());
    CheckpointStore store = CheckpointStore.open(s, dir);
    assertEquals(dir.resolve("checkpoints"), store.dir());
    assertEquals(2, store.keepLast());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
    "bagpipe.checkpoint.keep-last = 0|bagpipe.checkpoint.keep-last",
    "bagpipe.checkpoint.keep-last = two|bagpipe.checkpoint.keep-last",
    "bagpipe.checkpoint.best-mode = highest|bagpipe.checkpoint.best-mode",
    "bagpipe.checkpoint.best-metric = \"\"|bagpipe.checkpoint.best-metric",
    "bagpipe.checkpoint.dir = \"  \"|bagpipe.checkpoint.dir",
  })
  void badSettingsNameTheirKey(String override, String key) {
    var e = assertThrows(ConfigException.BadValue.class,
        () -> CheckpointSettings.fromConfig(config(override).getConfig("bagpipe.checkpoint")));
    assertTrue(e.getMessage().contains(key), e.getMessage());
  }

  @Test
  void bestModeComparesWithNaNAsNoneYet() {
    assertTrue(BestMode.MAX.better(0.7, Double.NaN));
    assertTrue(BestMode.MAX.better(0.8, 0.7));
    assertFalse(BestMode.MAX.better(0.7, 0.7));
    assertFalse(BestMode.MAX.better(Double.NaN, 0.1));
    assertTrue(BestMode.MIN.better(0.1, 0.7));
    assertFalse(BestMode.MIN.better(0.8, 0.7));
  }
}
