package io.bagpipe.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.bagpipe.allreduce.ChannelAuth;
import io.bagpipe.api.SecuritySettings;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bagpipe keys}: stores that open with the password it wrote, and settings that point Artery at them. */
class KeysCommandTest {

  @TempDir Path dir;

  @Test
  void writesPrivateStoresWhoseCertificateTheTrustStoreHoldsAndASecret() throws Exception {
    KeysCommand k = new KeysCommand();
    k.out = dir;
    assertEquals(0, k.call());
    char[] password = Files.readString(dir.resolve("password")).strip().toCharArray();
    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(dir.resolve("node.p12"))) {
      keys.load(in, password);
    }
    assertTrue(keys.isKeyEntry("bagpipe-node"));
    X509Certificate cert = (X509Certificate) keys.getCertificate("bagpipe-node");
    KeyStore trust = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(dir.resolve("trust.p12"))) {
      trust.load(in, password);
    }
    assertEquals(cert, trust.getCertificate(trust.aliases().nextElement()));
    assertTrue(ChannelAuth.fromFile(dir.resolve("secret"), "bagpipe.security.secret-file").enabled());
    for (String f : new String[] {"node.p12", "trust.p12", "password", "secret"}) {
      assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve(f))), f);
    }
    // A second run would lock every node out of the first keys: it asks for --force.
    KeysCommand again = new KeysCommand();
    again.out = dir;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, again::call);
    assertTrue(e.getMessage().contains("--force"), e.getMessage());

    Config c = ConfigFactory.parseString("bagpipe.security { tls.enabled = on, tls.key-store = \"" + dir.resolve("node.p12")
        + "\", tls.trust-store = \"" + dir.resolve("trust.p12") + "\", tls.password = \"" + new String(password)
        + "\", secret-file = \"" + dir.resolve("secret") + "\" }").withFallback(ConfigFactory.defaultReference());
    SecuritySettings s = SecuritySettings.fromConfig(c.getConfig("bagpipe.security"));
    Config pekko = s.applyTo(c);
    assertEquals("tls-tcp", pekko.getString("pekko.remote.artery.transport"));
    assertTrue(pekko.getBoolean("pekko.remote.artery.ssl.config-ssl-engine.require-mutual-authentication"));
    assertEquals("TLSv1.3", pekko.getString("pekko.remote.artery.ssl.config-ssl-engine.protocol"));
    assertEquals(dir.resolve("node.p12").toString(), pekko.getString("pekko.remote.artery.ssl.config-ssl-engine.key-store"));
    assertTrue(s.channelAuth().enabled());
  }

  @Test
  void tlsWithoutAStoreOrPasswordIsRefusedNamingTheKey() {
    Config c = ConfigFactory.parseString("bagpipe.security.tls.enabled = on").withFallback(ConfigFactory.defaultReference());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SecuritySettings.fromConfig(c.getConfig("bagpipe.security")));
    assertTrue(e.getMessage().contains("bagpipe.security.tls.key-store"), e.getMessage());
    Config off = ConfigFactory.defaultReference();
    SecuritySettings plain = SecuritySettings.fromConfig(off.getConfig("bagpipe.security"));
    assertEquals(off, plain.applyTo(off));
    assertTrue(!plain.channelAuth().enabled());
  }
}
