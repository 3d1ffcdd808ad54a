package io.bagpipe.slide.synth;

import java.nio.file.Path;

/** Child-process entry for the memory test: writes one slide of the given size. */
public final class WriteOneSlide {
  private WriteOneSlide() {}

  public static void main(String[] args) throws Exception {
    int size = Integer.parseInt(args[1]);
    SlideRecipe recipe = new SlideRecipe("big", 1, size, size, 3, 0.5, 0.1, 224);
    PyramidalTiffWriter.WrittenTiff t = PyramidalTiffWriter.write(Path.of(args[0]), size, size,
        new TiffOptions(256, 0.8f, 0.5, "memory test"), new TissuePainter(new TissueMap(recipe)));
    System.out.println("levels=" + t.levels().size() + " bytes=" + t.bytes()
        + " heapMB=" + Runtime.getRuntime().maxMemory() / (1 << 20));
  }
}
