package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.net.URL;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;

/**
 * Pekko refuses mixed module versions unless {@code pekko.fail-mixed-versions = off}, which
 * reference.conf sets because the registry serves pekko-discovery only up to 1.2.1. This
 * keeps that exception from hiding any other mix: every Pekko core module on the class
 * path has pekko-actor's version, except pekko-discovery.
 */
class PekkoModulesTest {

  @Test
  void everyPekkoCoreModuleButDiscoveryHasPekkoActorsVersion() throws Exception {
    Map<String, String> versions = new TreeMap<>();
    for (URL u : Collections.list(getClass().getClassLoader().getResources("META-INF/MANIFEST.MF"))) {
      try (InputStream in = u.openStream()) {
        var a = new Manifest(in).getMainAttributes();
        String title = a.getValue("Implementation-Title");
        // pekko-http and pekko-management (with their parsing, pki and discovery plug-ins) are
        // released on their own version lines; Pekko's check leaves them out too.
        if ("org.apache.pekko".equals(a.getValue("Implementation-Vendor-Id")) && title != null
            && title.startsWith("pekko-") && !title.startsWith("pekko-http") && !title.startsWith("pekko-management")
            && !title.equals("pekko-parsing") && !title.startsWith("pekko-discovery-")) {
          versions.put(title, a.getValue("Implementation-Version"));
        }
      }
    }
    String pekko = versions.get("pekko-actor");
    Map<String, String> off = new TreeMap<>();
    versions.forEach((t, v) -> {
      if (!v.equals(pekko)) {
        off.put(t, v);
      }
    });
    assertEquals(Map.of("pekko-discovery", "1.2.1"), off,
        "Pekko modules off pekko-actor's " + pekko + " (pin them in pom.xml): " + versions);
  }
}
