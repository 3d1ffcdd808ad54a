package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.TrainingFixtures;
import io.bagpipe.checkpoint.CheckpointStore;
import io.bagpipe.checkpoint.RunState;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.SubmissionPublisher;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bagpipe embedded the way an event-driven JVM pipeline uses it: inside the
 * application's own ActorSystem, its events flowing through a
 * {@link Flow.Processor} stage into the application's queue, and stopped from
 * the pipeline when a condition is met.
 */
class EmbeddingTest {

  @TempDir static Path dir;
  static Path data;
  static ActorTestKit app;

  @BeforeAll
  static void start() throws Exception {
    data = TrainingFixtures.dataSet(dir.resolve("data"), 8);
    app = ActorTestKit.create("pipeline", TrainingFixtures.config(data, dir.resolve("unused")));
  }

  @AfterAll
  static void stop() {
    app.shutdownTestKit();
  }

  /** A pipeline stage: keeps the events the application cares about, as strings for its queue. */
  static final class Stage extends SubmissionPublisher<String> implements Flow.Processor<RunEvent, String> {
    final BagpipeRun run;
    Flow.Subscription upstream;

    Stage(BagpipeRun run) {
      this.run = run;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      upstream = s;
      s.request(1);
    }

    @Override
    public void onNext(RunEvent e) {
      switch (e) {
        case RunEvent.StepCompleted s when s.epoch() == 1 && s.step() == 2 -> {
          submit("step " + s.step() + " of epoch " + s.epoch() + ": stopping");
          run.stop();
        }
        case RunEvent.EpochCompleted c -> submit("epoch " + c.record().epoch() + " auc " + c.record().auc());
        case RunEvent.RunCompleted c -> submit("completed stopped=" + c.result().stopped());
        default -> {}
      }
      upstream.request(1);
    }

    @Override
    public void onError(Throwable t) {
      closeExceptionally(t);
    }

    @Override
    public void onComplete() {
      close();
    }
  }

  @Test
  void aPipelineObservesStopsAndResumesARunInItsOwnActorSystem() throws Exception {
    Path runDir = dir.resolve("embedded");
    BagpipeRun run = Bagpipe.start(TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=3"), app.system());
    Stage stage = new Stage(run);
    BlockingQueue<String> sink = new LinkedBlockingQueue<>();
    stage.consume(sink::add);
    run.events().subscribe(stage);

    RunResult stopped = run.result().toCompletableFuture().get(2, TimeUnit.MINUTES);
    assertTrue(stopped.stopped());
    assertEquals(1, stopped.epochsCompleted(), "epoch 0 completed, epoch 1 stopped mid-way");
    assertEquals("epoch 0 auc " + stopped.last().auc(), sink.poll(30, TimeUnit.SECONDS));
    assertEquals("step 2 of epoch 1: stopping", sink.poll(30, TimeUnit.SECONDS));
    assertEquals("completed stopped=true", sink.poll(30, TimeUnit.SECONDS));

    RunState at = new CheckpointStore(runDir.resolve("checkpoints"), 2).loadLatest().orElseThrow().state();
    assertEquals(1, at.epoch());
    // 12 training bags, one worker, one bag per step: 12 steps per epoch.
    assertTrue(at.step() >= 2 && at.step() < 12, "stopped mid-epoch after a common step: " + at.step());
    assertEquals(12 + at.step(), at.globalStep(), at.toString());
    assertTrue(!app.system().getWhenTerminated().toCompletableFuture().isDone(), "the application system lives on");

    // The same configuration resumes at that plan position and finishes the run.
    BagpipeRun again = Bagpipe.start(TrainingFixtures.config(data, runDir, "bagpipe.train.epochs=3"), app.system());
    RunTest.Recorder rec = new RunTest.Recorder();
    RunResult done = RunTest.run(again, rec);
    RunEvent.RunStarted started = rec.of(RunEvent.RunStarted.class).getFirst();
    assertEquals(1, started.startEpoch());
    assertEquals(at.step(), started.startStep());
    RunEvent.EpochStarted resumed = rec.of(RunEvent.EpochStarted.class).getFirst();
    assertEquals(at.step(), resumed.firstStep());
    List<RunEvent.StepCompleted> steps = rec.of(RunEvent.StepCompleted.class);
    assertTrue(steps.getFirst().step() == at.step() + 1 || steps.getFirst().epoch() == 2);
    assertEquals(2, done.epochsCompleted(), "epochs 1 and 2");
    assertEquals(3, new CheckpointStore(runDir.resolve("checkpoints"), 2).loadLatest().orElseThrow().state().epoch());
  }
}
