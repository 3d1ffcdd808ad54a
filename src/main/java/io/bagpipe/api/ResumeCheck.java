package io.bagpipe.api;

import io.bagpipe.checkpoint.Checkpoint;
import io.bagpipe.checkpoint.RunState;
import io.bagpipe.model.ModelSettings;
import io.bagpipe.worker.DjlReplica;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a resumed run must share with the run that wrote its checkpoint, checked
 * before any actor starts. A run records these settings in its {@link RunState}
 * extras (and so in every checkpoint); a resume compares them with its own
 * configuration and refuses, listing every difference, when they differ: another
 * model would not load into the workers, and another seed, bags per step or patch
 * size would silently continue a different plan from the saved position. A
 * checkpoint that lacks a recorded setting (written before it was recorded) is
 * accepted for that setting.
 *
 * @param encoder {@code bagpipe.model.encoder}
 * @param pooling {@code bagpipe.model.pooling}
 * @param classes {@code bagpipe.model.classes}
 * @param seed {@code bagpipe.plan.seed}, compared with {@link RunState#seed()}
 * @param bagsPerStep {@code bagpipe.plan.bags-per-step}
 * @param workers workers over all nodes at the start; with {@code bagsPerStep} they fix
 *     which bags form a step
 * @param patchSize {@code bagpipe.plan.patch-size}
 * @param described further settings recorded so that {@code bagpipe predict} can rebuild the
 *     model from a checkpoint alone ({@code attention_dim}, {@code level}, {@code torchscript_path},
 *     {@code normalize_mean}, {@code normalize_std}); not compared on resume: a model that
 *     differs in them fails the parameter check, and normalisation may change
 */
record ResumeCheck(String encoder, String pooling, int classes, long seed, int bagsPerStep, int workers,
    int patchSize, Map<String, String> described) {

  /** The run state extra holding the bags of a step over all workers; the Coordinator cuts steps by it. */
  static final String STEP_BAGS = "step_bags";


  ResumeCheck {
    Objects.requireNonNull(encoder, "encoder");
    Objects.requireNonNull(pooling, "pooling");
    described = Map.copyOf(described);
    if (bagsPerStep < 1 || workers < 1) {
      throw new IllegalArgumentException("bags per step and workers must be positive, got " + bagsPerStep + " and "
          + workers);
    }
  }

  /** Bags in one optimizer step over all workers. */
  long stepBags() {
    return (long) workers * bagsPerStep;
  }

  /** The extras a run records in its start state, by the names its checkpoints carry. */
  Map<String, String> extras() {
    Map<String, String> extras = new LinkedHashMap<>(described);
    extras.put("encoder", encoder);
    extras.put("pooling", pooling);
    extras.put("classes", Integer.toString(classes));
    extras.put("bags_per_step", Integer.toString(bagsPerStep));
    extras.put(STEP_BAGS, Long.toString(stepBags()));
    extras.put("patch_size", Integer.toString(patchSize));
    return extras;
  }

  /**
   * The differences between {@code saved} and this configuration, one
   * {@code key: checkpoint has X, configuration has Y} each; empty when it may resume.
   */
  List<String> mismatches(RunState saved) {
    List<String> out = new ArrayList<>();
    Map<String, String> now = extras();
    compare(out, saved, "encoder", "bagpipe.model.encoder", now, "");
    compare(out, saved, "pooling", "bagpipe.model.pooling", now, "");
    compare(out, saved, "classes", "bagpipe.model.classes", now, "");
    if (saved.seed() != seed) {
      out.add("bagpipe.plan.seed: checkpoint has " + saved.seed() + ", configuration has " + seed);
    }
    // The bags of a step (workers at the start x bags-per-step) are not compared: a resume
    // keeps the checkpoint's, so its plan position means the same steps whatever the
    // number of workers now (docs/adr/0008).
    compare(out, saved, "patch_size", "bagpipe.plan.patch-size", now, "");
    return out;
  }

  private static void compare(List<String> out, RunState saved, String extra, String key, Map<String, String> now,
      String how) {
    String then = saved.extras().get(extra);
    if (then != null && !then.equals(now.get(extra))) {
      out.add(key + ": checkpoint has " + then + ", configuration has " + now.get(extra) + how);
    }
  }

  /**
   * Checks that the checkpoint in {@code file} may be resumed with this configuration:
   * its recorded settings match, and its parameters fit the model that {@code model}
   * builds (names and shapes; the model is built once on the CPU).
   *
   * @throws IllegalArgumentException listing every difference, naming the file and what to do
   */
  void check(Path file, Checkpoint checkpoint, ModelSettings model) {
    List<String> mismatches = mismatches(checkpoint.state());
    if (!mismatches.isEmpty()) {
      throw new IllegalArgumentException("cannot resume from " + file + " (bagpipe.train.resume = true): it was written"
          + " with other settings than this configuration has:\n  " + String.join("\n  ", mismatches)
          + "\nRestore these settings to continue the run, or start a new run in another bagpipe.train.run-dir");
    }
    List<String> misfits = DjlReplica.misfits(model, patchSize, checkpoint.parameters());
    if (!misfits.isEmpty()) {
      throw new IllegalArgumentException("cannot resume from " + file + " (bagpipe.train.resume = true): its parameters"
          + " do not fit the model of bagpipe.model:\n  " + String.join("\n  ", misfits)
          + "\nRestore the bagpipe.model settings the run was started with (attention-dim, encoder, pooling,"
          + " classes, torchscript-path) to continue it, or start a new run in another bagpipe.train.run-dir");
    }
  }

  /**
   * {@code saved} with this configuration's extras added (a checkpoint written before they
   * were recorded gains them), except the bags of a step, which stay the checkpoint's.
   */
  RunState resumeFrom(RunState saved) {
    Map<String, String> extras = new LinkedHashMap<>(saved.extras());
    extras.putAll(extras());
    if (saved.extras().containsKey(STEP_BAGS)) {
      extras.put(STEP_BAGS, saved.extras().get(STEP_BAGS));
      extras.put("bags_per_step", saved.extras().getOrDefault("bags_per_step", extras.get("bags_per_step")));
    }
    return new RunState(saved.epoch(), saved.step(), saved.globalStep(), saved.seed(), saved.bestMetric(),
        saved.bestValue(), saved.bestEpoch(), extras);
  }
}
