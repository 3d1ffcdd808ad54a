package io.bagpipe.api;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.bagpipe.allreduce.ChannelAuth;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bagpipe.security.encrypt-data}: read, validated, and handed to the data channel. */
class SecuritySettingsTest {

  private static Config security(String overrides) {
    return ConfigFactory.parseString(overrides).withFallback(ConfigFactory.defaultReference()).resolve()
        .getConfig("bagpipe.security");
  }

  @Test
  void encryptionIsOffByDefault() {
    SecuritySettings s = SecuritySettings.fromConfig(security(""));
    assertFalse(s.encryptData());
    assertFalse(s.channelAuth().encrypts());
  }

  @Test
  void encryptionWithoutASecretIsRefusedNamingBothKeys() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SecuritySettings.fromConfig(security("bagpipe.security.encrypt-data = on")));
    assertTrue(e.getMessage().contains("bagpipe.security.encrypt-data") && e.getMessage().contains(
        "bagpipe.security.secret-file"), e.getMessage());
  }

  @Test
  void aValueThatIsNotOnOrOffNamesTheKey() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SecuritySettings.fromConfig(security("bagpipe.security.encrypt-data = sometimes")));
    assertTrue(e.getMessage().startsWith("bagpipe.security.encrypt-data"), e.getMessage());
  }

  @Test
  void encryptionWithASecretReachesTheDataChannel(@TempDir Path dir) throws Exception {
    Path secret = dir.resolve("secret");
    Files.writeString(secret, ChannelAuth.newSecret() + "\n");
    ChannelAuth auth = SecuritySettings.fromConfig(security("bagpipe.security { encrypt-data = on\n secret-file = \""
        + secret + "\" }")).channelAuth();
    assertTrue(auth.enabled() && auth.encrypts());
  }
}
