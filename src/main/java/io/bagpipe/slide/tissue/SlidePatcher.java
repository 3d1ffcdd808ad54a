package io.bagpipe.slide.tissue;

import io.bagpipe.slide.Slide;
import io.bagpipe.slide.SlideSettings;
import java.awt.image.BufferedImage;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.OptionalDouble;
import javax.imageio.ImageIO;

/**
 * Cuts one slide into a patch grid: tissue mask ({@link TissueSegmenter}), then a
 * non-overlapping grid of squares of {@code patchSize * targetMpp / slideMpp}
 * level-0 pixels anchored at the slide's origin, keeping the squares that lie wholly
 * inside level 0 and that the mask covers by at least {@code min-tissue-fraction}.
 * One lattice for the whole slide (rather than one per tissue region, as CLAM has)
 * means two nearby regions can never yield overlapping patches.
 *
 * <p>Writes {@code <coords>/<id>.csv} (a {@code # bagpipe patch:} comment line with
 * the settings, an {@code x,y} header, then level-0 corners, row-major) and a
 * thumbnail PNG. The CSV is written under a {@code .part} name and renamed when
 * complete, so a killed run leaves either the whole file or none.
 */
public final class SlidePatcher {

  /** First line of every coordinate file written here. */
  public static final String HEADER = "# bagpipe patch:";

  private SlidePatcher() {}

  /**
   * What patching one slide gave.
   *
   * @param patches patches written
   * @param extent level-0 side of each patch
   * @param slideMpp level-0 microns per pixel used (the slide's, or the assumed one)
   * @param tissueFraction fraction of the slide the tissue mask covers
   * @param level pyramid level the mask was computed on
   */
  public record Result(int patches, long extent, double slideMpp, double tissueFraction, int level) {}

  /** The settings line a coordinate file written with {@code s} starts with (slide mpp and results follow). */
  public static String settingsTag(TissueSettings s) {
    return String.format(Locale.ROOT, "%s patch_size=%d target_mpp=%s min_tissue_fraction=%s", HEADER, s.patchSize(),
        s.targetMpp(), s.minTissueFraction());
  }

  /**
   * Whether {@code csv} is a complete coordinate file written with settings {@code s}:
   * it exists (a file appears only whole) and its first line carries the same settings.
   *
   * @throws IllegalStateException when the file exists but {@code bagpipe patch} did not write it
   */
  public static boolean isDone(Path csv, TissueSettings s) throws IOException {
    if (!Files.isRegularFile(csv)) {
      return false;
    }
    String first;
    try (var r = Files.newBufferedReader(csv, StandardCharsets.UTF_8)) {
      first = r.readLine();
    }
    if (first == null || !first.startsWith(HEADER)) {
      throw new IllegalStateException(csv + " exists and was not written by bagpipe patch; move it away or choose another"
          + " output folder, it is not overwritten");
    }
    return first.startsWith(settingsTag(s) + " ");
  }

  /**
   * The most a patch may be enlarged from the slide's level 0: past it the slide's
   * resolution (or the target) is almost surely wrong, and no scanner resolves less.
   */
  static final int MAX_UPSAMPLING = 8;

  /** Level-0 microns per pixel of {@code slide}, or {@code assumeMpp} when it has none and that is set. */
  public static double slideMpp(Slide slide, double assumeMpp, String settingKey) {
    OptionalDouble mpp = slide.micronsPerPixelX();
    if (mpp.isPresent()) {
      return mpp.getAsDouble();
    }
    if (assumeMpp > 0) {
      return assumeMpp;
    }
    throw new IllegalArgumentException("slide " + slide.path() + " does not say its microns per pixel"
        + " (no openslide.mpp-x, no TIFF resolution); set " + settingKey);
  }

  /** Level-0 side of a patch of {@code patchSize} pixels at {@code targetMpp} on a slide of {@code slideMpp}. */
  public static long extent(int patchSize, double targetMpp, double slideMpp) {
    return Slide.patchExtent(patchSize, targetMpp, slideMpp);
  }

  /**
   * Patches the slide at {@code slidePath} into {@code coords/<id>.csv} and
   * {@code thumbnails/<id>.png} ({@code thumbnails} may be null: none), reading the slide as
   * {@code slides} says (background, {@code bagpipe.slide.decoder}).
   */
  public static Result patch(Path slidePath, String id, Path coords, Path thumbnails, TissueSettings s,
      SlideSettings slides) throws IOException {
    try (Slide slide = Slide.open(slidePath, slides)) {
      double mpp = slideMpp(slide, s.assumeMpp(), "bagpipe.patch.assume-mpp (--assume-mpp)");
      long extent = extent(s.patchSize(), s.targetMpp(), mpp);
      long w0 = slide.level(0).width();
      long h0 = slide.level(0).height();
      if (extent * MAX_UPSAMPLING < s.patchSize()) {
        // A resolution tag that is off by orders of magnitude (1000 um per pixel, say)
        // would otherwise grid the slide into millions of one-pixel patches.
        throw new IllegalArgumentException(String.format(Locale.ROOT, "slide %s says it has %s um per level-0 pixel, so"
            + " a %d px patch at %s um per pixel covers only %d level-0 pixels (upsampled %.0fx): its resolution tags"
            + " are probably wrong; fix them, or patch nearer the slide's own resolution with bagpipe.patch.target-mpp"
            + " (--target-mpp)", slidePath, mpp, s.patchSize(), s.targetMpp(), extent, (double) s.patchSize() / extent));
      }
      if (extent > w0 || extent > h0) {
        throw new IllegalArgumentException("slide " + slidePath + " (" + w0 + "x" + h0 + ") is smaller than one patch of "
            + extent + " level-0 pixels");
      }
      TissueMask mask = TissueSegmenter.segment(slide, s, (double) extent * extent);
      double tissue = mask.tissueFraction();
      Path target = coords.resolve(id + ".csv");
      Path part = coords.resolve(id + ".csv.part");
      int n = 0;
      ThumbnailDrawer thumb = thumbnails == null ? null : new ThumbnailDrawer(mask, s.thumbnailSize());
      try (BufferedWriter out = Files.newBufferedWriter(part, StandardCharsets.UTF_8)) {
        out.write(String.format(Locale.ROOT, "%s slide_mpp=%s patch_level0=%d seg_level=%d mask_downsample=%.3f"
            + " tissue_fraction=%.4f%n", settingsTag(s), mpp, extent, mask.level(), mask.downsample(), tissue));
        out.write("x,y\n");
        for (long y = 0; y + extent <= h0; y += extent) {
          for (long x = 0; x + extent <= w0; x += extent) {
            if (x > Integer.MAX_VALUE || y > Integer.MAX_VALUE) {
              continue;
            }
            if (mask.fraction(x, y, extent) >= s.minTissueFraction()) {
              out.write(Long.toString(x));
              out.write(',');
              out.write(Long.toString(y));
              out.write('\n');
              n++;
              if (thumb != null) {
                thumb.patch(x, y, extent);
              }
            }
          }
        }
      } catch (IOException | RuntimeException e) {
        Files.deleteIfExists(part);
        throw e;
      }
      if (n == 0) {
        Files.deleteIfExists(part);
        if (thumb != null) {
          write(thumb.image(), thumbnails.resolve(id + ".png"));
        }
        throw new IllegalArgumentException(String.format(Locale.ROOT, "slide %s: no patch of %d level-0 pixels is"
            + " covered by tissue for at least bagpipe.patch.min-tissue-fraction = %s (tissue covers %.1f %% of the"
            + " slide); no coordinate file written", slidePath, extent, s.minTissueFraction(), 100 * tissue));
      }
      if (thumb != null) {
        write(thumb.image(), thumbnails.resolve(id + ".png"));
      }
      Files.move(part, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      return new Result(n, extent, mpp, tissue, mask.level());
    }
  }

  private static void write(BufferedImage img, Path png) throws IOException {
    Path part = png.resolveSibling(png.getFileName() + ".part");
    if (!ImageIO.write(img, "png", part.toFile())) {
      throw new IOException("no PNG writer for " + png);
    }
    Files.move(part, png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
