// A JVM pipeline that embeds Bagpipe: starts a run inside its own ActorSystem,
// turns the run's events into its own messages, and stops the run early when the
// validation AUC reaches a target. Run it from the repository root (after
// ./bagpipe synth --out work/demo-data):
//
//   /usr/lib/jvm/temurin-25-jdk-amd64/bin/java --enable-native-access=ALL-UNNAMED \
//     --sun-misc-unsafe-memory-access=allow -Dai.djl.offline=true \
//     -Dlogback.configurationFile=io/bagpipe/cli/logback.xml \
//     -cp "target/bagpipe.jar:target/lib/*" docs/examples/EmbedExample.java
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.bagpipe.api.Bagpipe;
import io.bagpipe.api.BagpipeRun;
import io.bagpipe.api.RunEvent;
import io.bagpipe.api.RunResult;
import java.util.concurrent.Flow;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

public class EmbedExample {
  public static void main(String[] args) {
    Config config = ConfigFactory.parseString("""
        bagpipe.data.dir = work/demo-data
        bagpipe.train.run-dir = work/runs/embedded
        bagpipe.train.epochs = 3
        bagpipe.plan.folds { k = 4, train = "12", val = "34" }
        bagpipe.worker.devices = [cpu, cpu]
        bagpipe.worker.intra-op-threads = 1
        """).withFallback(ConfigFactory.load());
    ActorSystem<Void> app = ActorSystem.create(Behaviors.empty(), "my-pipeline", config);

    BagpipeRun run = Bagpipe.start(config, app);
    run.events().subscribe(new Flow.Subscriber<RunEvent>() {
      Flow.Subscription subscription;

      public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        s.request(1); // back-pressure: one event at a time
      }

      public void onNext(RunEvent event) {
        switch (event) {
          case RunEvent.EpochCompleted e -> {
            System.out.printf("epoch %d: val AUC %.3f%n", e.record().epoch() + 1, e.record().auc());
            if (e.record().auc() >= 0.99) {
              run.stop(); // graceful: same step on every worker, checkpoint, done
            }
          }
          case RunEvent.BagSkipped s -> System.out.println("skipped a bag of " + s.slideId() + ": " + s.reason());
          default -> {}
        }
        subscription.request(1);
      }

      public void onError(Throwable t) {}

      public void onComplete() {}
    });

    RunResult result = run.result().toCompletableFuture().join();
    System.out.println("best " + result.bestMetric() + " " + result.bestValue() + " -> " + result.bestCheckpoint());
    app.terminate();
  }
}
