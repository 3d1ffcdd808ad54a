package io.bagpipe.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a real JVM that is saving checkpoints ({@link CheckpointWriterMain}) at random
 * moments and checks that the folder always still yields a good checkpoint, equal to
 * a version the child saved and no older than the last one it announced.
 */
class CheckpointKillTest {

  private static final int FLOATS = 8 << 20;
  private static final int KEEP_LAST = 2;
  private static final int ROUNDS = 6;

  @Test
  @Timeout(90)
  void killedWriterAlwaysLeavesAGoodCheckpoint(@TempDir Path dir) throws Exception {
    long seed = System.nanoTime();
    Random random = new Random(seed);
    String java = ProcessHandle.current().info().command().orElseThrow();
    long announced = -1;
    int tornWrites = 0;
    for (int round = 0; round < ROUNDS; round++) {
      Process child = new ProcessBuilder(java, "-Xmx512m", "-cp", System.getProperty("java.class.path"),
          CheckpointWriterMain.class.getName(), dir.toString(), Integer.toString(FLOATS), Integer.toString(KEEP_LAST))
          .redirectError(ProcessBuilder.Redirect.INHERIT)
          .start();
      // Lines still in the pipe when the child dies are lost (destroy closes the stream),
      // so "announced" may lag behind the truth; the checks below allow for that.
      AtomicLong firstSaved = new AtomicLong(-1);
      AtomicLong lastSaved = new AtomicLong(-1);
      CountDownLatch firstSave = new CountDownLatch(1);
      Thread reader = Thread.ofVirtual().start(() -> {
        try (BufferedReader out = child.inputReader()) {
          for (String line; (line = out.readLine()) != null; ) {
            if (line.startsWith("saved ")) {
              lastSaved.set(Long.parseLong(line.substring(6)));
              firstSaved.compareAndSet(-1, lastSaved.get());
              firstSave.countDown();
            }
          }
        } catch (IOException closedByDestroy) {
          // the child is gone
        }
      });
      try {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!firstSave.await(50, TimeUnit.MILLISECONDS)) {
          assertTrue(child.isAlive() && System.nanoTime() < deadline, "the writer did not save (seed " + seed + ")");
        }
        assertEquals(announced + 1, firstSaved.get(), "the writer did not resume after version " + announced);
        Thread.sleep(random.nextInt(400));
        announced = lastSaved.get(); // saved and announced before the kill
      } finally {
        child.destroyForcibly();
        assertTrue(child.waitFor(10, TimeUnit.SECONDS));
        reader.join();
      }

      try (Stream<Path> files = Files.list(dir)) {
        tornWrites += (int) files.filter(p -> p.toString().endsWith(".tmp")).count();
      }
      CheckpointStore store = new CheckpointStore(dir, KEEP_LAST);
      Recovery r = store.recover();
      String context = "round " + round + ", seed " + seed + ", last announced version " + announced;
      Recovery.Found found = r instanceof Recovery.Found f ? f : null;
      assertNotNull(found, "no good checkpoint after the kill: " + context);
      assertEquals(List.of(), r.rejected(), context);
      Checkpoint c = found.checkpoint();
      long version = c.state().globalStep();
      assertTrue(version >= announced, "checkpoint " + version + " is older than announced: " + context);
      verify(c, version); // so it is exactly a version the child saved

      // A kill between a save's rename and its pruning leaves one version more; the next save prunes it.
      assertTrue(store.versionedFiles().size() <= KEEP_LAST + 1, store.versionedFiles() + ": " + context);
      announced = version; // a save cut between rename and announcement counts as saved
    }
    System.out.println("kill test: " + ROUNDS + " kills, " + tornWrites + " during a write, reached version " + announced
        + " (seed " + seed + ")");
  }

  private static void verify(Checkpoint c, long version) {
    Checkpoint expected = CheckpointWriterMain.checkpoint(version, 0);
    assertEquals(expected.state(), c.state());
    assertEquals(expected.optimizerState(), c.optimizerState());
    float[] w = c.parameters().getFirst().data();
    assertEquals(FLOATS, w.length);
    for (int i = 0; i < w.length; i++) {
      if (w[i] != CheckpointWriterMain.value(version, i)) {
        throw new AssertionError("version " + version + " element " + i + ": " + w[i]);
      }
    }
    assertArrayEquals(new long[] {FLOATS}, c.parameters().getFirst().shape());
  }
}
