package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.bag.PatchCoordinates;
import io.bagpipe.slide.synth.SynthSettings;
import io.bagpipe.slide.synth.SyntheticDataSet;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PatchCommandTest {

  @Test
  void aCorruptSlideFailsAloneAndAReRunSkipsFinishedSlides(@TempDir Path dir) throws Exception {
    SyntheticDataSet.Result data = SyntheticDataSet.ensure(
        new SynthSettings(dir.resolve("synth"), 2, 1536, 1536, 0.12, 0.4, 0.5, 112, 1, 3, 0.8f, 0.5), line -> {});
    Path slides = dir.resolve("synth").resolve("slides");
    byte[] junk = new byte[40_000];
    new SplittableRandom(1).nextBytes(junk);
    Files.write(slides.resolve("broken.tif"), junk);
    Path out = dir.resolve("out");
    String[] args = {"patch", "--slides", slides.toString(), "--out", out.toString(), "--threads", "2",
        "--patch-size", "112", "--target-mpp", "0.5"};

    Result first = run(args);
    assertEquals(1, first.code, first.err);
    assertTrue(first.err.contains("slide 'broken' failed"), first.err);
    List<String> summary = Files.readAllLines(out.resolve("summary.csv"));
    assertEquals("slide_id,status,patches,tissue_fraction,slide_mpp,seg_level,seconds,error", summary.getFirst());
    assertEquals(4, summary.size(), String.join("\n", summary));
    assertTrue(summary.stream().anyMatch(l -> l.startsWith("broken,failed,") && l.contains("broken.tif")), summary.toString());
    assertTrue(Files.notExists(out.resolve("coords").resolve("broken.csv")));
    for (var s : data.slides()) {
      Path csv = out.resolve("coords").resolve(s.id() + ".csv");
      PatchCoordinates c = PatchCoordinates.read(csv, 112, new io.bagpipe.bag.Extent(1536, 1536));
      assertTrue(c.size() > 10, s.id() + ": " + c.size());
      assertTrue(summary.stream().anyMatch(l -> l.startsWith(s.id() + ",ok," + c.size() + ",")), summary.toString());
      assertTrue(Files.size(out.resolve("thumbnails").resolve(s.id() + ".png")) > 0);
      Files.setLastModifiedTime(csv, FileTime.fromMillis(1_000_000));
    }
    try (var left = Files.list(out.resolve("coords"))) {
      assertTrue(left.noneMatch(p -> p.toString().endsWith(".part")));
    }

    Result second = run(args);
    assertEquals(1, second.code, second.err);
    List<String> again = Files.readAllLines(out.resolve("summary.csv"));
    for (var s : data.slides()) {
      assertTrue(again.stream().anyMatch(l -> l.startsWith(s.id() + ",skipped,")), again.toString());
      assertEquals(1_000_000, Files.getLastModifiedTime(out.resolve("coords").resolve(s.id() + ".csv")).toMillis());
    }
    assertTrue(again.stream().anyMatch(l -> l.startsWith("broken,failed,")));

    // other settings are not "done": the slide is patched again, with the new extent
    Result third = run(new String[] {"patch", "--slides", slides.toString(), "--out", out.toString(), "--patch-size", "56",
        "--target-mpp", "1.0"});
    assertEquals(1, third.code, third.err);
    String head = Files.readAllLines(out.resolve("coords").resolve(data.slides().getFirst().id() + ".csv")).getFirst();
    assertTrue(head.contains("patch_level0=112"), head);
  }

  @Test
  void aSlideWithoutMppFailsNamingItUnlessAnMppIsAssumed(@TempDir Path dir) throws Exception {
    Path slides = Files.createDirectories(dir.resolve("slides"));
    Path tif = io.bagpipe.slide.tissue.NoMppSlides.write(dir, "plain", 512, 512);
    Files.move(tif, slides.resolve("plain.tif"));
    try (var s = io.bagpipe.slide.Slide.open(slides.resolve("plain.tif"), io.bagpipe.slide.SlideFixtures.WHITE, io.bagpipe.slide.SlideDecoder.OPENSLIDE)) {
      assertTrue(s.micronsPerPixelX().isEmpty(), "the slide still says its mpp: " + s.properties());
    }
    Result r = run(new String[] {"patch", "--slides", slides.toString(), "--out", dir.resolve("out").toString()});
    assertEquals(1, r.code, r.err);
    assertTrue(r.err.contains("plain.tif") && r.err.contains("microns per pixel"), r.err);
    Result assumed = run(new String[] {"patch", "--slides", slides.toString(), "--out", dir.resolve("out").toString(),
        "--assume-mpp", "0.5", "--patch-size", "64", "--min-tissue", "0"});
    assertEquals(0, assumed.code, assumed.err);
    assertTrue(Files.readString(dir.resolve("out").resolve("summary.csv")).contains("plain,ok,64,"));
  }

  @Test
  void aBadPatchKeyIsNamed(@TempDir Path dir) {
    Result r = run(new String[] {"patch", "--slides", dir.toString(), "--out", dir.toString(), "--set",
        "bagpipe.patch.median-kernel=4"});
    assertTrue(r.code != 0);
    assertTrue(r.err.contains("bagpipe.patch.median-kernel"), r.err);
  }

  record Result(int code, String err) {}

  private static Result run(String[] args) {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream saved = System.err;
    System.setErr(new PrintStream(err, true));
    try {
      var cl = Main.commandLine();
      cl.setErr(new java.io.PrintWriter(err, true));
      int code = cl.execute(args);
      return new Result(code, err.toString());
    } finally {
      System.setErr(saved);
    }
  }
}
