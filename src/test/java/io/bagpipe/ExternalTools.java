package io.bagpipe;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * External programs that tests compare against (openslide-tools, vips, gcc).
 * A missing tool skips the test on a developer's machine but fails it when
 * {@code CI=true}, so CI can never pass by skipping.
 */
public final class ExternalTools {
  private ExternalTools() {}

  /** Fails (CI) or skips (elsewhere) unless {@code tool} is on PATH. */
  public static void require(String tool) {
    boolean found = onPath(tool);
    if (!found && "true".equalsIgnoreCase(System.getenv("CI"))) {
      fail(tool + " is required by this test and CI=true; .ci/run installs it (apt-get)");
    }
    assumeTrue(found, tool + " is not installed; skipping");
  }

  /** Debian's Python with PyTorch (python3-torch), which the export tests compare against. */
  public static final String PYTHON = "/usr/bin/python3";

  /** Fails (CI) or skips (elsewhere) unless {@link #PYTHON} imports torch. */
  public static void requirePythonTorch() {
    boolean found;
    try {
      Process p = new ProcessBuilder(PYTHON, "-c", "import torch").redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      found = p.waitFor(2, TimeUnit.MINUTES) && p.exitValue() == 0;
    } catch (IOException e) {
      found = false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      found = false;
    }
    if (!found && "true".equalsIgnoreCase(System.getenv("CI"))) {
      fail(PYTHON + " with torch is required by this test and CI=true; .ci/run installs python3-torch (apt-get)");
    }
    assumeTrue(found, PYTHON + " cannot import torch; skipping");
  }

  /** True when an executable named {@code tool} is on PATH. */
  public static boolean onPath(String tool) {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String dir : path.split(":")) {
      if (Files.isExecutable(Path.of(dir, tool))) {
        return true;
      }
    }
    return false;
  }

  /** Runs a command, fails the test on a non-zero exit, returns its stdout. */
  public static String run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(5, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      fail("timed out: " + command);
    }
    String s = new String(out, StandardCharsets.UTF_8);
    if (p.exitValue() != 0) {
      fail(command + " exited " + p.exitValue() + ":\n" + s);
    }
    return s;
  }
}
