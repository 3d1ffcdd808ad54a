package io.bagpipe.checkpoint;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Child process of {@link CheckpointKillTest}: resumes from the newest checkpoint in
 * a folder and saves version after version until it is killed. Version {@code v}
 * has global step {@code v} and deterministic contents ({@link #checkpoint}), and is
 * announced on stdout as {@code saved v} once {@code saveLast} has returned.
 *
 * <p>Arguments: folder, floats per parameter tensor, keep-last.
 */
public final class CheckpointWriterMain {

  static final int STEPS_PER_EPOCH = 3;

  private CheckpointWriterMain() {}

  public static void main(String[] args) throws Exception {
    CheckpointStore store = new CheckpointStore(Path.of(args[0]), Integer.parseInt(args[2]));
    int floats = Integer.parseInt(args[1]);
    long version = store.loadLatest().map(c -> c.state().globalStep() + 1).orElse(0L);
    while (true) {
      store.saveLast(checkpoint(version, floats));
      System.out.println("saved " + version);
      System.out.flush();
      version++;
    }
  }

  /** The checkpoint saved as version {@code v}. */
  static Checkpoint checkpoint(long v, int floats) {
    float[] data = new float[floats];
    for (int i = 0; i < floats; i++) {
      data[i] = value(v, i);
    }
    RunState state = new RunState((int) (v / STEPS_PER_EPOCH), v % STEPS_PER_EPOCH, v, 11, "val_auc", Double.NaN, -1,
        Map.of("version", Long.toString(v)));
    return new Checkpoint(state, List.of(NamedTensor.vector("w", data)),
        List.of(NamedTensor.vector("m", new float[] {v, -v})));
  }

  /** Element {@code i} of the parameter tensor of version {@code v}. */
  static float value(long v, int i) {
    return (float) ((i * 2654435761L + v * 40503L) % 1_000_003L);
  }
}
