package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint that cannot be written (here: its folder replaced by a file mid-run) is
 * written again once, then ends the run with a message that names the cause and what
 * to fix, instead of a warning and a run that goes on without checkpoints.
 */
class CheckpointFailureTest {

  @TempDir Path dir;

  @Test
  void aCheckpointThatCannotBeWrittenEndsTheRunSayingWhatToFix() throws Exception {
    Path data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    Path run = dir.resolve("run");
    BagpipeRun r = Bagpipe.start(TrainingFixtures.config(data, run, "bagpipe.train.epochs=5"));
    RunTest.Recorder events = new RunTest.Recorder();
    r.events().subscribe(new Flow.Subscriber<RunEvent>() {
      boolean broken;

      @Override
      public void onSubscribe(Flow.Subscription s) {
        s.request(Long.MAX_VALUE);
      }

      @Override
      public void onNext(RunEvent e) {
        if (e instanceof RunEvent.CheckpointSaved && !broken) {
          broken = true;
          try { // the folder becomes a file: every later checkpoint fails
            Path checkpoints = run.resolve("checkpoints");
            try (var files = Files.list(checkpoints)) {
              for (Path f : files.toList()) {
                Files.delete(f);
              }
            }
            Files.delete(checkpoints);
            Files.writeString(checkpoints, "not a folder");
          } catch (java.io.IOException x) {
            throw new java.io.UncheckedIOException(x);
          }
        }
      }

      @Override
      public void onError(Throwable t) {}

      @Override
      public void onComplete() {}
    });
    r.events().subscribe(events);
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> r.result().toCompletableFuture().get(3, TimeUnit.MINUTES));
    RunFailedException f = assertInstanceOf(RunFailedException.class, e.getCause());
    events.await();
    assertTrue(f.getMessage().contains("cannot write checkpoints"), f.getMessage());
    assertTrue(f.getMessage().contains("bagpipe.checkpoint.dir"), f.getMessage());
    assertTrue(f.getMessage().contains("checkpoints"), "names the folder: " + f.getMessage());
    assertTrue(events.of(RunEvent.CheckpointFailed.class).size() >= 2, "written again once before ending");
  }
}
