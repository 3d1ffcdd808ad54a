package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code bagpipe --version} prints pom.xml's version, here where the classes run outside the jar too. */
class VersionTest {

  @Test
  void versionIsThePomsVersion() throws Exception {
    String pom = Files.readString(Path.of(System.getProperty("bagpipe.project.dir", "."), "pom.xml"));
    Matcher m = Pattern.compile("<artifactId>bagpipe</artifactId>\\s*<version>([^<]+)</version>").matcher(pom);
    m.find();
    StringWriter out = new StringWriter();
    var cl = Main.commandLine();
    cl.setOut(new PrintWriter(out));
    assertEquals(0, cl.execute("--version"));
    assertEquals("bagpipe " + m.group(1), out.toString().strip());
  }
}
