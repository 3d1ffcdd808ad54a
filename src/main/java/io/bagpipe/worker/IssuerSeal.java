package io.bagpipe.worker;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * What proves that a Coordinator belongs to the run: the first 128 bits of
 * HMAC-SHA256 under the run's secret ({@code bagpipe.security.secret-file}, the data
 * channel's) of the {@link Worker.Issuer} it drew, sent with its {@link Worker.Introduce}.
 * A worker whose node holds the secret follows only an issuer proved so; without a
 * secret, introductions carry {@link Worker.Proof#NONE} and are taken as they come.
 * A node with the secret and one without refuse each other's introductions, naming
 * the key, rather than train apart.
 */
public final class IssuerSeal {

  /** No secret: introductions prove nothing and need not. */
  public static final IssuerSeal NONE = new IssuerSeal(null, "");

  /** At least as long as the data channel's secret must be. */
  static final int MIN_SECRET_BYTES = 16;

  private static final byte[] LABEL = "bagpipe-issuer".getBytes(StandardCharsets.US_ASCII);

  private final byte[] secret;
  private final String key;

  private IssuerSeal(byte[] secret, String key) {
    this.secret = secret;
    this.key = key;
  }

  /** A seal under {@code secret} (at least 16 bytes); {@code key} names the setting it came from in refusals. */
  public static IssuerSeal of(byte[] secret, String key) {
    if (secret == null || secret.length < MIN_SECRET_BYTES) {
      throw new IllegalArgumentException(key + ": the secret must hold at least " + MIN_SECRET_BYTES + " bytes, got "
          + (secret == null ? 0 : secret.length));
    }
    return new IssuerSeal(secret.clone(), key);
  }

  /**
   * The secret in {@code file}, read as the data channel reads it (its bytes, trailing
   * whitespace removed), so both hold the same key; {@code key} names the setting.
   */
  public static IssuerSeal fromFile(Path file, String key) {
    return new IssuerSeal(io.bagpipe.allreduce.ChannelAuth.readSecret(file, key), key);
  }

  /** Whether this seal holds a secret. */
  public boolean enabled() {
    return secret != null;
  }

  /** The proof a Coordinator sends with its introduction: {@link Worker.Proof#NONE} without a secret. */
  public Worker.Proof prove(Worker.Issuer issuer) {
    if (secret == null) {
      return Worker.Proof.NONE;
    }
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      mac.update(LABEL);
      mac.update(ByteBuffer.allocate(16).putLong(issuer.high()).putLong(issuer.low()).array());
      ByteBuffer tag = ByteBuffer.wrap(mac.doFinal());
      return new Worker.Proof(tag.getLong(), tag.getLong());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JVM offers no HmacSHA256", e);
    }
  }

  /** Why an introduction of {@code issuer} with {@code proof} is refused; empty when it is not. */
  String refusal(Worker.Issuer issuer, Worker.Proof proof) {
    if (issuer == null || proof == null) {
      return "it names no issuer or no proof";
    }
    if (secret == null) {
      return proof.equals(Worker.Proof.NONE) ? "" : "it proves a secret and this node has none: set"
          + " bagpipe.security.secret-file on every node, or on none";
    }
    if (proof.equals(Worker.Proof.NONE)) {
      return "it proves no secret and this node has one (" + key + "): a stranger, or a node started without it";
    }
    Worker.Proof expected = prove(issuer);
    // Compared without an early exit, so the time taken says nothing about how much matched.
    long diff = (expected.high() ^ proof.high()) | (expected.low() ^ proof.low());
    return diff == 0 ? "" : "its proof does not match this node's secret (" + key + "): a stranger, or a node"
        + " with another secret";
  }
}
