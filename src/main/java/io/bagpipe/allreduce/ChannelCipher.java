package io.bagpipe.allreduce;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * One direction of an encrypted data-channel connection ({@code bagpipe.security.encrypt-data
 * = on}, docs/security.md): AES-256-GCM with a key that belongs to this connection and
 * direction alone, and a 64-bit frame counter as the nonce.
 *
 * <p><b>Key schedule.</b> After {@link ChannelAuth}'s handshake both ends hold the run's
 * secret, the connection's header and the two fresh 32-byte nonces. HKDF-SHA256 (RFC 5869)
 * turns them into one key per direction:
 *
 * <pre>
 * PRK     = HMAC-SHA256(salt = nonce_c | nonce_p, secret)
 * key_dir = HMAC-SHA256(PRK, "bagpipe data channel v1" | 0 | dir | 0 | header | 0x01)   dir: "connector to port" or "port to connector"
 * </pre>
 *
 * Both nonces are new for every connection, so no key serves two connections, two
 * directions or two runs, and the GCM nonce ({@code 0x00000000 | counter}, big-endian)
 * can simply count frames from 0: it never repeats under one key. The counter is never
 * sent: a frame dropped, replayed or moved fails the receiver's tag check, as does any
 * change to the frame header, which is the associated data. A connection refuses to
 * seal a frame once its counter reached {@code 2^63 - 1}, before it could wrap.
 *
 * <p>Not thread-safe: one sender, or one receiver, per instance.
 */
final class ChannelCipher {

  static final int TAG_BYTES = 16;
  private static final int NONCE_BYTES = 12;
  private static final long LAST_COUNTER = Long.MAX_VALUE;
  private static final byte[] LABEL = "bagpipe data channel v1".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] CONNECTOR_TO_PORT = "connector to port".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] PORT_TO_CONNECTOR = "port to connector".getBytes(StandardCharsets.US_ASCII);

  private final SecretKeySpec key;
  private final int mode;
  private final Cipher cipher;
  private final byte[] nonce = new byte[NONCE_BYTES];
  private long counter;

  private ChannelCipher(byte[] key, int mode) {
    this.key = new SecretKeySpec(key, "AES");
    this.mode = mode;
    try {
      this.cipher = Cipher.getInstance("AES/GCM/NoPadding");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES/GCM is part of every JDK", e);
    }
  }

  /** The two keys of one connection, derived from the handshake (see the class comment). */
  record Keys(byte[] connectorToPort, byte[] portToConnector) {}

  /** Frames from the connector to the port, on the connector's side. */
  static ChannelCipher sealing(byte[] key) {
    return new ChannelCipher(key, Cipher.ENCRYPT_MODE);
  }

  /** Like {@link #sealing(byte[])} with the counter already at {@code counter} (for tests of its end). */
  static ChannelCipher sealing(byte[] key, long counter) {
    ChannelCipher c = new ChannelCipher(key, Cipher.ENCRYPT_MODE);
    c.counter = counter;
    return c;
  }

  /** Frames from the connector to the port, on the port's side. */
  static ChannelCipher opening(byte[] key) {
    return new ChannelCipher(key, Cipher.DECRYPT_MODE);
  }

  /** HKDF-SHA256 of the run's secret and the handshake: {connector to port, port to connector}. */
  static Keys derive(byte[] secret, byte[] header, byte[] nonceConnector, byte[] noncePort) {
    try {
      Mac extract = Mac.getInstance("HmacSHA256");
      byte[] salt = new byte[nonceConnector.length + noncePort.length];
      System.arraycopy(nonceConnector, 0, salt, 0, nonceConnector.length);
      System.arraycopy(noncePort, 0, salt, nonceConnector.length, noncePort.length);
      extract.init(new SecretKeySpec(salt, "HmacSHA256"));
      byte[] prk = extract.doFinal(secret);
      return new Keys(expand(prk, CONNECTOR_TO_PORT, header), expand(prk, PORT_TO_CONNECTOR, header));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
    }
  }

  /** HKDF-Expand to 32 bytes: one HMAC block. */
  private static byte[] expand(byte[] prk, byte[] direction, byte[] header) throws GeneralSecurityException {
    Mac m = Mac.getInstance("HmacSHA256");
    m.init(new SecretKeySpec(prk, "HmacSHA256"));
    m.update(LABEL);
    m.update((byte) 0);
    m.update(direction);
    m.update((byte) 0);
    m.update(header);
    m.update((byte) 1);
    return m.doFinal();
  }

  /** Frames sealed or opened so far: the next frame's nonce. */
  long counter() {
    return counter;
  }

  private void start() throws IOException {
    if (counter == LAST_COUNTER) {
      throw new IOException("this data channel connection sealed 2^63-1 frames; its frame counter (the AES-GCM"
          + " nonce) would repeat, so the connection stops here and the ring reconnects");
    }
    long c = counter++;
    for (int i = 0; i < 8; i++) {
      nonce[4 + i] = (byte) (c >>> (56 - 8 * i));
    }
    try {
      cipher.init(mode, key, new GCMParameterSpec(TAG_BYTES * 8, nonce));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-256-GCM with a 96-bit nonce is part of every JDK", e);
    }
  }

  /**
   * Seals {@code plain}'s remaining bytes with {@code aad}'s remaining bytes as associated
   * data into {@code out} (ciphertext and tag, {@link #TAG_BYTES} more than {@code plain});
   * {@code plain} and {@code out} may be the same memory at the same position. Positions
   * of {@code aad} and {@code plain} are left where they were.
   */
  void seal(ByteBuffer aad, ByteBuffer plain, ByteBuffer out) throws IOException {
    start();
    try {
      cipher.updateAAD(aad.duplicate());
      cipher.doFinal(plain.duplicate(), out);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM failed to seal a frame: " + e, e);
    }
  }

  /**
   * Opens {@code sealed}'s remaining bytes (ciphertext and tag) with {@code aad}'s
   * remaining bytes as associated data into {@code out}; throws {@link Tampered} when the
   * tag does not match: the bytes, the header, or the order of frames changed in flight.
   */
  void open(ByteBuffer aad, ByteBuffer sealed, ByteBuffer out) throws IOException {
    long frame = counter;
    start();
    try {
      cipher.updateAAD(aad.duplicate());
      cipher.doFinal(sealed.duplicate(), out);
    } catch (AEADBadTagException e) {
      throw new Tampered("frame " + frame + " failed AES-GCM authentication: it was tampered with in flight (its"
          + " bytes or header altered, or a frame dropped, replayed or reordered), or it was not sealed with this"
          + " connection's key");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM failed to open a frame: " + e, e);
    }
  }

  /** A frame whose tag did not match. */
  static final class Tampered extends IOException {
    Tampered(String message) {
      super(message);
    }
  }

  // ---------------------------------------------------------------- streams for bulk transfers

  /** Plain bytes per record of a sealed stream. */
  static final int RECORD_BYTES = 64 * 1024;
  private static final int LAST = 0x8000_0000;

  /**
   * Bytes written here go out as records {@code (length | last bit, 4 bytes big-endian;
   * ciphertext and tag)}, the 4 bytes as associated data; {@link #close} writes the last
   * record, so a stream cut short is told from a finished one.
   */
  static final class SealedOutputStream extends OutputStream {

    private final OutputStream out;
    private final ChannelCipher cipher;
    private final ByteBuffer plain = ByteBuffer.allocate(RECORD_BYTES);
    private final ByteBuffer sealed = ByteBuffer.allocate(4 + RECORD_BYTES + TAG_BYTES);
    private boolean closed;

    SealedOutputStream(OutputStream out, ChannelCipher cipher) {
      this.out = out;
      this.cipher = cipher;
    }

    @Override
    public void write(int b) throws IOException {
      if (!plain.hasRemaining()) {
        record(false);
      }
      plain.put((byte) b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      while (len > 0) {
        if (!plain.hasRemaining()) {
          record(false);
        }
        int n = Math.min(len, plain.remaining());
        plain.put(b, off, n);
        off += n;
        len -= n;
      }
    }

    private void record(boolean last) throws IOException {
      plain.flip();
      sealed.clear();
      sealed.putInt(plain.remaining() | (last ? LAST : 0));
      ByteBuffer aad = sealed.duplicate().flip();
      cipher.seal(aad, plain, sealed);
      out.write(sealed.array(), 0, sealed.position());
      plain.clear();
    }

    /** Seals what is buffered as a record and flushes; the stream goes on. */
    @Override
    public void flush() throws IOException {
      if (plain.position() > 0) {
        record(false);
      }
      out.flush();
    }

    /** Writes the last record and closes the underlying stream. */
    @Override
    public void close() throws IOException {
      if (closed) {
        return;
      }
      closed = true;
      try {
        record(true);
        out.flush();
      } finally {
        out.close();
      }
    }
  }

  /** Reads what a {@link SealedOutputStream} wrote, checking every record. */
  static final class SealedInputStream extends InputStream {

    private final InputStream in;
    private final ChannelCipher cipher;
    private final String what;
    private final byte[] head = new byte[4];
    private final ByteBuffer sealed = ByteBuffer.allocate(RECORD_BYTES + TAG_BYTES);
    private final ByteBuffer plain = ByteBuffer.allocate(RECORD_BYTES);
    private boolean last;

    /** {@code what} names the stream in errors ("transfer 7 from ..."). */
    SealedInputStream(InputStream in, ChannelCipher cipher, String what) {
      this.in = in;
      this.cipher = cipher;
      this.what = what;
      plain.flip();
    }

    /** Whether bytes are ready, reading the next record when needed; false at the end. */
    private boolean fill() throws IOException {
      while (!plain.hasRemaining()) {
        if (last) {
          return false;
        }
        readFully(head, head.length);
        int word = ByteBuffer.wrap(head).getInt();
        int length = word & ~LAST;
        if (length > RECORD_BYTES) {
          throw new Tampered(what + ": a record claims " + length + " bytes, more than " + RECORD_BYTES
              + ": tampered with in flight");
        }
        sealed.clear().limit(length + TAG_BYTES);
        readFully(sealed.array(), length + TAG_BYTES);
        plain.clear();
        try {
          cipher.open(ByteBuffer.wrap(head), sealed, plain);
        } catch (Tampered t) {
          throw new Tampered(what + ": " + t.getMessage());
        }
        plain.flip();
        last = (word & LAST) != 0;
      }
      return true;
    }

    private void readFully(byte[] b, int n) throws IOException {
      int at = 0;
      while (at < n) {
        int r = in.read(b, at, n - at);
        if (r < 0) {
          throw new EOFException(what + " ended before its last record: it was cut off in flight");
        }
        at += r;
      }
    }

    @Override
    public int read() throws IOException {
      return fill() ? plain.get() & 0xff : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      if (!fill()) {
        return -1;
      }
      int n = Math.min(len, plain.remaining());
      plain.get(b, off, n);
      return n;
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }
}
