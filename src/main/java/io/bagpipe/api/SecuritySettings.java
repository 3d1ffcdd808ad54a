package io.bagpipe.api;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.bagpipe.allreduce.ChannelAuth;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code bagpipe.security} settings (docs/security.md): the data channel's shared
 * secret and TLS for the cluster's Artery connections.
 *
 * @param secretFile the data channel's secret, or null: the data ports admit anyone
 * @param tls whether Artery runs over mutually authenticated TLS
 * @param keyStore this node's PKCS12 key store (its key and certificate)
 * @param trustStore PKCS12 store of the certificates a peer must present
 * @param password the stores' password
 * @param encryptData whether the data channel's TCP frames and transfers are encrypted
 *     (AES-256-GCM with keys derived from the secret), which needs {@code secretFile}
 */
public record SecuritySettings(Path secretFile, boolean tls, Path keyStore, Path trustStore, String password,
    boolean encryptData) {

  public SecuritySettings {
    if (encryptData && secretFile == null) {
      throw new IllegalArgumentException("bagpipe.security.encrypt-data = on needs the data channel's secret, and"
          + " bagpipe.security.secret-file is empty: set it (make one with `bagpipe keys --out DIR`; `bagpipe launch`"
          + " makes one per run unless given --no-secret), or set bagpipe.security.encrypt-data = off");
    }
    if (tls) {
      String[] keys = {"key-store", "trust-store"};
      Path[] stores = {keyStore, trustStore};
      for (int i = 0; i < keys.length; i++) {
        if (stores[i] == null || !Files.isReadable(stores[i])) {
          throw new IllegalArgumentException("bagpipe.security.tls." + keys[i] + " = \"" + (stores[i] == null ? ""
              : stores[i]) + "\" is not a readable file; make a key store and trust store with `bagpipe keys --out DIR`");
        }
      }
      if (password == null || password.isEmpty()) {
        throw new IllegalArgumentException("bagpipe.security.tls.password is empty; `bagpipe keys` prints the one"
            + " it chose (or set BAGPIPE_KEYSTORE_PASSWORD)");
      }
    }
  }

  /** Reads {@code bagpipe.security}; a missing or mistyped key is an error naming it. */
  public static SecuritySettings fromConfig(Config c) {
    String secret = read(c, "secret-file", c::getString);
    boolean tls = read(c, "tls.enabled", c::getBoolean);
    String keyStore = read(c, "tls.key-store", c::getString);
    String trustStore = read(c, "tls.trust-store", c::getString);
    return new SecuritySettings(secret.isBlank() ? null : Path.of(secret), tls,
        keyStore.isBlank() ? null : Path.of(keyStore), trustStore.isBlank() ? null : Path.of(trustStore),
        read(c, "tls.password", c::getString), read(c, "encrypt-data", c::getBoolean));
  }

  private static <T> T read(Config c, String key, java.util.function.Function<String, T> getter) {
    try {
      return getter.apply(key);
    } catch (ConfigException e) {
      throw new IllegalArgumentException("bagpipe.security." + key + ": " + e.getMessage(), e);
    }
  }

  /**
   * Who may use this node's data port: holders of the secret file's secret, or anyone when
   * none is set; with {@link #encryptData} the connections are encrypted too.
   */
  public ChannelAuth channelAuth() {
    return secretFile == null ? ChannelAuth.NONE
        : ChannelAuth.fromFile(secretFile, "bagpipe.security.secret-file").encrypting(encryptData);
  }

  /** What proves a Coordinator's introductions to the workers: the same secret, or nothing when none is set. */
  public io.bagpipe.worker.IssuerSeal issuerSeal() {
    return secretFile == null ? io.bagpipe.worker.IssuerSeal.NONE
        : io.bagpipe.worker.IssuerSeal.fromFile(secretFile, "bagpipe.security.secret-file");
  }

  /** {@code config} with Artery over TLS 1.3 and mutual authentication when {@link #tls}; unchanged otherwise. */
  public Config applyTo(Config config) {
    if (!tls) {
      return config;
    }
    String ssl = "pekko.remote.artery.ssl.config-ssl-engine.";
    return ConfigFactory.empty()
        .withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef("tls-tcp"))
        .withValue("pekko.remote.artery.ssl.ssl-engine-provider",
            ConfigValueFactory.fromAnyRef("org.apache.pekko.remote.artery.tcp.ConfigSSLEngineProvider"))
        .withValue(ssl + "key-store", ConfigValueFactory.fromAnyRef(keyStore.toAbsolutePath().toString()))
        .withValue(ssl + "trust-store", ConfigValueFactory.fromAnyRef(trustStore.toAbsolutePath().toString()))
        .withValue(ssl + "key-store-password", ConfigValueFactory.fromAnyRef(password))
        .withValue(ssl + "key-password", ConfigValueFactory.fromAnyRef(password))
        .withValue(ssl + "trust-store-password", ConfigValueFactory.fromAnyRef(password))
        .withValue(ssl + "protocol", ConfigValueFactory.fromAnyRef("TLSv1.3"))
        .withValue(ssl + "enabled-algorithms",
            ConfigValueFactory.fromIterable(List.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384")))
        .withValue(ssl + "require-mutual-authentication", ConfigValueFactory.fromAnyRef(true))
        .withFallback(config);
  }
}
