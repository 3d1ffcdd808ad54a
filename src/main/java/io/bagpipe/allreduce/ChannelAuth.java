package io.bagpipe.allreduce;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Who may use a data port: everyone ({@link #NONE}), or only processes holding the
 * run's shared secret ({@code bagpipe.security.secret-file}).
 *
 * <p><b>Handshake.</b> After the connection's header (ring: generation, ranks, world;
 * transfer: its id) each side proves it holds the secret without sending it, and
 * both sides contribute a fresh random nonce, so a recorded handshake cannot be
 * replayed and a guessed one fails:
 *
 * <pre>
 * connector -> port : nonce_c (32 bytes)
 * port -> connector : nonce_p (32 bytes), HMAC-SHA256(secret, "port" | header | nonce_c | nonce_p)
 * connector -> port : HMAC-SHA256(secret, "connector" | header | nonce_c | nonce_p)
 * </pre>
 *
 * The connector checks the port's answer before it proves itself (so a port that
 * lacks the secret learns nothing it could reuse), and the port parks a connection
 * for a ring only after the connector's proof matched. MACs are compared in constant
 * time. The header is inside both MACs: a proof for one generation, rank or transfer
 * is worth nothing for another.
 *
 * <p><b>Encryption.</b> With {@code bagpipe.security.encrypt-data = on} ({@link #encrypts()})
 * the connection's magic number says so (it is part of the header, so inside both MACs),
 * and after the handshake both sides derive the connection's AES-256-GCM keys from the
 * secret, the header and both nonces ({@link ChannelCipher}).
 */
public final class ChannelAuth {

  /** No secret: handshakes carry no proof (the channel is open to anyone who can reach it). */
  public static final ChannelAuth NONE = new ChannelAuth(null, false);

  static final int NONCE_BYTES = 32;
  static final int MAC_BYTES = 32;
  /** Shortest secret accepted: 128 bits. */
  public static final int MIN_SECRET_BYTES = 16;
  /** Longest secret file read. */
  private static final int MAX_SECRET_BYTES = 4096;

  private static final SecureRandom RANDOM = new SecureRandom();
  private static final byte[] PORT = "port".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CONNECTOR = "connector".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private final byte[] secret;
  private final boolean encrypt;

  private ChannelAuth(byte[] secret, boolean encrypt) {
    this.secret = secret;
    this.encrypt = encrypt;
  }

  /** A channel that admits only holders of {@code secret} (at least 16 bytes). */
  public static ChannelAuth of(byte[] secret) {
    if (secret == null || secret.length < MIN_SECRET_BYTES) {
      throw new IllegalArgumentException("the data channel's secret must hold at least " + MIN_SECRET_BYTES
          + " bytes, got " + (secret == null ? 0 : secret.length));
    }
    return new ChannelAuth(secret.clone(), false);
  }

  /**
   * This secret, with every connection's frames and transfers encrypted too ({@code
   * bagpipe.security.encrypt-data}) or not; encrypting needs a secret.
   */
  public ChannelAuth encrypting(boolean on) {
    if (on && secret == null) {
      throw new IllegalArgumentException("bagpipe.security.encrypt-data = on needs the data channel's secret:"
          + " set bagpipe.security.secret-file (make one with `bagpipe keys --out DIR`; `bagpipe launch` makes one"
          + " per run)");
    }
    return on == encrypt ? this : new ChannelAuth(secret, on);
  }

  /** Whether connections are encrypted after their handshake ({@code bagpipe.security.encrypt-data}). */
  public boolean encrypts() {
    return encrypt;
  }

  /**
   * The secret in {@code file} (its bytes, trailing whitespace removed); {@code key} names
   * the setting that pointed here in errors.
   */
  public static ChannelAuth fromFile(Path file, String key) {
    return new ChannelAuth(readSecret(file, key), false);
  }

  /**
   * The run's secret in {@code file}: its bytes, trailing whitespace removed, at least
   * {@link #MIN_SECRET_BYTES}; {@code key} names the setting that pointed here in errors.
   * The data channel and the Coordinator's seal on its orders read it alike.
   */
  public static byte[] readSecret(Path file, String key) {
    byte[] bytes;
    try {
      if (Files.size(file) > MAX_SECRET_BYTES) {
        throw new IllegalArgumentException(file + " (" + key + ") is larger than " + MAX_SECRET_BYTES
            + " bytes: is it the secret file `bagpipe keys` wrote?");
      }
      bytes = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read the run's secret " + file + " (" + key + "): " + e, e);
    }
    int n = bytes.length;
    while (n > 0 && Character.isWhitespace(bytes[n - 1])) {
      n--;
    }
    if (n < MIN_SECRET_BYTES) {
      throw new IllegalArgumentException(file + " (" + key + ") holds " + n + " bytes; the run's secret needs at"
          + " least " + MIN_SECRET_BYTES + " (make one with `bagpipe keys --out DIR`)");
    }
    return java.util.Arrays.copyOf(bytes, n);
  }

  /** A new random secret, hex-encoded (64 characters, 256 bits), for a secret file. */
  public static String newSecret() {
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    return java.util.HexFormat.of().formatHex(b);
  }

  public boolean enabled() {
    return secret != null;
  }

  /**
   * The port's side, after it read {@code header}: answers the connector's nonce and
   * checks its proof; throws {@link Refused} when the proof does not match. Returns the
   * connection's keys when it {@link #encrypts()}, else null.
   */
  ChannelCipher.Keys answer(DataInputStream in, DataOutputStream out, byte[] header) throws IOException {
    byte[] nc = new byte[NONCE_BYTES];
    in.readFully(nc);
    byte[] np = new byte[NONCE_BYTES];
    RANDOM.nextBytes(np);
    out.write(np);
    out.write(mac(PORT, header, nc, np));
    out.flush();
    byte[] proof = new byte[MAC_BYTES];
    in.readFully(proof);
    if (!MessageDigest.isEqual(proof, mac(CONNECTOR, header, nc, np))) {
      throw new Refused("the connector does not hold this run's secret (bagpipe.security.secret-file)");
    }
    return encrypt ? ChannelCipher.derive(secret, header, nc, np) : null;
  }

  /**
   * The connector's side, after it wrote {@code header}: checks the port's proof, then
   * proves itself; throws {@link Refused} when the port does not hold the secret. Returns
   * the connection's keys when it {@link #encrypts()}, else null.
   */
  ChannelCipher.Keys prove(DataInputStream in, DataOutputStream out, byte[] header) throws IOException {
    byte[] nc = new byte[NONCE_BYTES];
    RANDOM.nextBytes(nc);
    out.write(nc);
    out.flush();
    byte[] np = new byte[NONCE_BYTES];
    in.readFully(np);
    byte[] theirs = new byte[MAC_BYTES];
    in.readFully(theirs);
    if (!MessageDigest.isEqual(theirs, mac(PORT, header, nc, np))) {
      throw new Refused("the data port does not hold this run's secret (bagpipe.security.secret-file)");
    }
    out.write(mac(CONNECTOR, header, nc, np));
    out.flush();
    return encrypt ? ChannelCipher.derive(secret, header, nc, np) : null;
  }

  private byte[] mac(byte[] role, byte[] header, byte[] nc, byte[] np) {
    try {
      Mac m = Mac.getInstance("HmacSHA256");
      m.init(new SecretKeySpec(secret, "HmacSHA256"));
      m.update(role);
      m.update(header);
      m.update(nc);
      m.update(np);
      return m.doFinal();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
    }
  }

  /** A handshake whose proof did not match: the other side lacks the secret. */
  static final class Refused extends IOException {
    Refused(String message) {
      super(message);
    }
  }

  @Override
  public String toString() {
    return !enabled() ? "ChannelAuth[none]" : encrypt ? "ChannelAuth[HMAC-SHA256, AES-256-GCM]" : "ChannelAuth[HMAC-SHA256]";
  }
}
