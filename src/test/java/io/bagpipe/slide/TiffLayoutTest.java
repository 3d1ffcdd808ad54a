package io.bagpipe.slide;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** TiffLayout reads classic TIFF and BigTIFF in both byte orders, and names the file when it cannot. */
class TiffLayoutTest {

  @TempDir Path dir;

  /**
   * One tiled directory: 600x300, 256-pixel tiles (3x2), JPEG, YCbCr, 3x8 bits,
   * tables of 6 bytes, offsets 1000+100t, byte counts 50+t; written by hand.
   */
  private Path write(boolean big, ByteOrder order) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(4096).order(order);
    b.put(order == ByteOrder.LITTLE_ENDIAN ? (byte) 'I' : (byte) 'M').put(b.get(0));
    int ifd = 64;
    if (big) {
      b.putShort((short) 43).putShort((short) 8).putShort((short) 0).putLong(ifd);
    } else {
      b.putShort((short) 42).putInt(ifd);
    }
    int tables = 512;
    int offsets = 600;
    int counts = 700;
    int bps = 800;
    b.position(tables).put(new byte[] {(byte) 0xFF, (byte) 0xD8, 1, 2, (byte) 0xFF, (byte) 0xD9});
    for (int t = 0; t < 6; t++) {
      if (big) {
        b.putLong(offsets + 8 * t, 1000 + 100 * t).putLong(counts + 8 * t, 50 + t);
      } else {
        b.putInt(offsets + 4 * t, 1000 + 100 * t).putInt(counts + 4 * t, 50 + t);
      }
    }
    b.putShort(bps, (short) 8).putShort(bps + 2, (short) 8).putShort(bps + 4, (short) 8);
    int[][] entries = {
      {256, 3, 1, 600}, {257, 4, 1, 300}, {258, 3, 3, bps}, {259, 3, 1, 7}, {262, 3, 1, 6}, {277, 3, 1, 3},
      {284, 3, 1, 1}, {322, 3, 1, 256}, {323, 3, 1, 256}, {324, big ? 16 : 4, 6, offsets},
      {325, big ? 16 : 4, 6, counts}, {347, 7, 6, tables}, {530, 3, 2, 0x00020002}
    };
    b.position(ifd);
    if (big) {
      b.putLong(entries.length);
    } else {
      b.putShort((short) entries.length);
    }
    for (int[] e : entries) {
      b.putShort((short) e[0]).putShort((short) e[1]);
      if (big) {
        b.putLong(e[2]);
      } else {
        b.putInt(e[2]);
      }
      int at = b.position();
      boolean inline = e[0] == 530 ? true : e[2] == 1;
      if (e[0] == 530) {
        b.putShort((short) 2).putShort((short) 2);
      } else if (big && e[0] == 258) {
        b.putShort((short) 8).putShort((short) 8).putShort((short) 8); // 6 bytes fit in BigTIFF's 8
      } else if (big && e[0] == 347) {
        b.put(new byte[] {(byte) 0xFF, (byte) 0xD8, 1, 2, (byte) 0xFF, (byte) 0xD9});
      } else if (inline && e[1] == 3) {
        b.putShort((short) e[3]);
      } else if (inline) {
        b.putInt(e[3]);
      } else if (big) {
        b.putLong(e[3]);
      } else {
        b.putInt(e[3]);
      }
      b.position(at + (big ? 8 : 4));
    }
    if (big) {
      b.putLong(0);
    } else {
      b.putInt(0);
    }
    Path p = dir.resolve((big ? "big-" : "classic-") + order + ".tif");
    Files.write(p, java.util.Arrays.copyOf(b.array(), 2000));
    return p;
  }

  @ParameterizedTest(name = "bigtiff={0}, big-endian={1}")
  @CsvSource({"false,false", "false,true", "true,false", "true,true"})
  void readsTheTagsATiledReaderNeeds(boolean big, boolean bigEndian) throws IOException {
    Path p = write(big, bigEndian ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      TiffLayout layout = TiffLayout.read(p, ch);
      assertEquals(1, layout.directories().size());
      TiffLayout.Directory d = layout.directories().getFirst();
      assertEquals(600, d.width());
      assertEquals(300, d.height());
      assertEquals(256, d.tileWidth());
      assertEquals(256, d.tileHeight());
      assertEquals(3, d.tilesAcross());
      assertEquals(2, d.tilesDown());
      assertEquals(7, d.compression());
      assertEquals(6, d.photometric());
      assertEquals(3, d.samplesPerPixel());
      assertEquals(8, d.bitsPerSample());
      assertEquals(1, d.planarConfig());
      assertArrayEquals(new int[] {2, 2}, d.ycbcrSubsampling());
      assertArrayEquals(new byte[] {(byte) 0xFF, (byte) 0xD8, 1, 2, (byte) 0xFF, (byte) 0xD9}, d.jpegTables());
      assertArrayEquals(new long[] {1000, 1100, 1200, 1300, 1400, 1500}, d.tileOffsets());
      assertArrayEquals(new long[] {50, 51, 52, 53, 54, 55}, d.tileByteCounts());
      assertTrue(d.tiled());
    }
  }

  @ParameterizedTest(name = "{0} bytes kept")
  @CsvSource({"8", "100", "650"})
  void aTruncatedFileIsAnErrorNamingIt(int keep) throws IOException {
    Path p = write(false, ByteOrder.LITTLE_ENDIAN);
    byte[] all = Files.readAllBytes(p);
    Files.write(p, java.util.Arrays.copyOf(all, keep));
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      IOException e = assertThrows(IOException.class, () -> TiffLayout.read(p, ch));
      assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
    }
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"'not a tiff at all, really'"})
  void aFileThatIsNotATiffIsAnErrorNamingIt(String content) throws IOException {
    Path p = dir.resolve("x.tif");
    Files.writeString(p, content);
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      IOException e = assertThrows(IOException.class, () -> TiffLayout.read(p, ch));
      assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("not a TIFF"), e.getMessage());
    }
  }
}
