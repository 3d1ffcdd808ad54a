package io.bagpipe.allreduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.allreduce.AllReduceSettings.Transport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Segment files of processes that died before their neighbour answered are removed at start-up. */
class SegmentSweepTest {

  @TempDir Path dir;

  private static long deadPid() throws Exception {
    Process p = new ProcessBuilder("true").start();
    p.waitFor();
    return p.pid();
  }

  @Test
  void aDeadProcesssSegmentGoesAndALiveOnesStays() throws Exception {
    Path dead = Files.createFile(dir.resolve("bagpipe-" + deadPid() + "-g3-r0to1-5eed"));
    Path live = Files.createFile(dir.resolve("bagpipe-" + ProcessHandle.current().pid() + "-g3-r1to0-beef"));
    Path other = Files.createFile(dir.resolve("bagpipe-notes.txt"));
    Path unrelated = Files.createFile(dir.resolve("something-else"));
    assertEquals(1, SharedMemoryLink.sweepStale(dir));
    assertFalse(Files.exists(dead));
    assertTrue(Files.exists(live) && Files.exists(other) && Files.exists(unrelated));
  }

  @Test
  void openingADataPortSweepsItsSharedMemoryDirectory() throws Exception {
    Path dead = Files.createFile(dir.resolve("bagpipe-" + deadPid() + "-g1-r0to1-abc"));
    AllReduceSettings s = new AllReduceSettings("127.0.0.1", 0, 64, 2, Duration.ofSeconds(5), 0, Transport.AUTO, dir, 0);
    try (DataPort p = DataPort.open(s)) {
      assertFalse(Files.exists(dead));
    }
  }
}
