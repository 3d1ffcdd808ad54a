package io.bagpipe.allreduce;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.allreduce.AllReduceSettings.Transport;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The TCP link of ADR 0010: frames flow with nothing coming back, and an older peer is refused by name. */
@Timeout(20)
class TcpLinkTest {

  /** A window of one chunk: with acknowledgements, the second frame would wait for the first's. */
  private final AllReduceSettings settings = new AllReduceSettings("127.0.0.1", 0, 64, 1, Duration.ofSeconds(5), 0,
      Transport.TCP, Path.of(System.getProperty("java.io.tmpdir")), 0);
  private ServerSocketChannel server;
  private SocketChannel sending;
  private SocketChannel receiving;

  @BeforeEach
  void connect() throws IOException {
    server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    sending = SocketChannel.open(server.getLocalAddress());
    receiving = server.accept();
  }

  @AfterEach
  void close() throws IOException {
    sending.close();
    receiving.close();
    server.close();
  }

  /** Sealed frames: data frames, then an abort frame whose reason is longer than a chunk, read back in order. */
  @Test
  void sealedFramesAndAbortsArriveOpened() throws Exception {
    byte[] key = new byte[32];
    key[5] = 7;
    TcpLink.Outbound out = new TcpLink.Outbound(sending, settings, new ReentrantLock(), ChannelCipher.sealing(key));
    TcpLink.Inbound in = new TcpLink.Inbound(receiving, settings, ChannelCipher.opening(key));
    float[] src = new float[16 * 3];
    for (int i = 0; i < src.length; i++) {
      src[i] = i - 20.25f;
    }
    Frame f = new Frame();
    for (int c = 0; c < 3; c++) {
      out.send(f.data(9, 1, c, 16, src.length, 2, false), src, 16 * c);
    }
    String reason = "rank 3 broke: " + "x".repeat(500);
    sending.write(out.abortFrame(reason));
    float[] dst = new float[src.length];
    for (int c = 0; c < 3; c++) {
      in.next(f);
      assertEquals(Frame.DATA, f.type);
      assertEquals(c, f.chunk);
      in.payload(dst, 16 * c, f.floats);
    }
    assertArrayEquals(src, dst);
    in.next(f);
    assertEquals(Frame.ABORT, f.type);
    assertEquals(reason, f.reason);
    assertEquals("tcp+encrypted", in.transport());
  }

  @Test
  void framesFlowWithoutAnythingComingBack() throws Exception {
    TcpLink.Outbound out = new TcpLink.Outbound(sending, settings, new ReentrantLock());
    float[] src = new float[16 * 50];
    for (int i = 0; i < src.length; i++) {
      src[i] = i * 0.5f;
    }
    Frame f = new Frame();
    // 50 frames while the receiver reads nothing and writes nothing
    for (int c = 0; c < 50; c++) {
      out.send(f.data(7, 0, c, 16, src.length, 3, c == 49), src, 16 * c);
    }
    out.drain();
    TcpLink.Inbound in = new TcpLink.Inbound(receiving, settings);
    float[] dst = new float[src.length];
    for (int c = 0; c < 50; c++) {
      in.next(f);
      assertEquals(Frame.DATA, f.type);
      assertEquals(7, f.round);
      assertEquals(c, f.chunk);
      assertEquals(3, f.weight);
      assertEquals(c == 49, f.halt);
      in.payload(dst, 16 * c, f.floats);
      in.release();
    }
    assertArrayEquals(src, dst);
    receiving.configureBlocking(false);
    sending.configureBlocking(false);
    assertEquals(0, sending.read(ByteBuffer.allocate(8)), "the receiver sent nothing back");
  }

  @Test
  void anOfferFromAnOlderBagpipeIsRefusedNamingTheVersionMismatch() throws Exception {
    ByteBuffer old = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
    old.putInt(3).putLong(0).putLong(0).putInt(0).flip(); // ADR 0006's TCP offer
    Link.writeFully(sending, old);
    IOException e = assertThrows(IOException.class, () -> Link.answer(receiving, settings, () -> false));
    assertTrue(e.getMessage().contains("older Bagpipe"), e.getMessage());
  }
}
