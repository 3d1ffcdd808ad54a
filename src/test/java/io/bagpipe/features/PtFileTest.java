package io.bagpipe.features;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bagpipe.ExternalTools;
import io.jhdf.HdfFile;
import io.jhdf.WritableHdfFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * CLAM / TRIDENT {@code .pt} feature files written by Debian's PyTorch ({@code torch.save}), read
 * through {@link FeatureRows}: dtypes, dicts, views and transposes, and the files it must refuse.
 * Expected values: element (r, k) of the 5 x 3 matrix is {@code (3r + k) / 4}, exact in every dtype.
 */
class PtFileTest {

  @TempDir static Path dir;

  private static final String SCRIPT = """
      import sys, zipfile, datetime, torch
      d = sys.argv[1]
      m = torch.arange(15, dtype=torch.float32).reshape(5, 3) / 4
      torch.save(m, d + '/f32.pt')
      torch.save(m.half(), d + '/f16.pt')
      torch.save(m.bfloat16(), d + '/bf16.pt')
      torch.save(m.double(), d + '/f64.pt')
      torch.save(m, d + '/proto4.pt', pickle_protocol=4)  # FRAME, STACK_GLOBAL, MEMOIZE
      xy = torch.tensor([[256 * i, 512 * i + 1] for i in range(5)])
      torch.save({'features': m, 'coords': xy}, d + '/dict.pt')
      torch.save({'features': m.half()}, d + '/dict-nocoords.pt')
      torch.save(m.t().contiguous().t(), d + '/transposed.pt')
      big = torch.arange(40, dtype=torch.float32) / 4
      torch.save(big[6:21].view(5, 3), d + '/offset.pt')
      torch.save(m, d + '/legacy.pt', _use_new_zipfile_serialization=False)
      torch.save(m[0], d + '/1d.pt')
      torch.save(m.unsqueeze(0), d + '/3d.pt')
      torch.save(m.long(), d + '/long.pt')
      torch.save({'features': m, 'when': datetime.date(2020, 1, 1)}, d + '/global.pt')
      torch.save({'coords': xy}, d + '/nofeatures.pt')
      def rewrite(src, dst, fix, byteorder=None):
          with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, 'w') as o:
              for i in z.infolist():
                  data, kind = fix(i.filename, z.read(i.filename))
                  if data is not None:
                      o.writestr(i.filename, data, compress_type=kind)
              if byteorder:  # PyTorch 1.13 writes no byteorder entry; later versions write 'little'
                  o.writestr(z.namelist()[0].split('/')[0] + '/byteorder', byteorder)
      rewrite(d + '/f32.pt', d + '/deflated.pt', lambda n, b: (b, zipfile.ZIP_DEFLATED))
      rewrite(d + '/f32.pt', d + '/nostorage.pt', lambda n, b: (None if '/data/' in n else b, zipfile.ZIP_STORED))
      rewrite(d + '/f32.pt', d + '/short.pt', lambda n, b: (b[:-4] if '/data/' in n else b, zipfile.ZIP_STORED))
      rewrite(d + '/f32.pt', d + '/build.pt', lambda n, b: (b.replace(b'ctorch._utils', b'btorch._utils', 1)
              if n.endswith('data.pkl') else b, zipfile.ZIP_STORED))
      rewrite(d + '/f32.pt', d + '/little.pt', lambda n, b: (b, zipfile.ZIP_STORED), b'little')
      rewrite(d + '/f32.pt', d + '/bigendian.pt', lambda n, b: (b, zipfile.ZIP_STORED), b'big')
      print(torch.__version__)
      """;

  @BeforeAll
  static void write() throws Exception {
    ExternalTools.requirePythonTorch();
    Path script = Files.writeString(dir.resolve("write_pt.py"), SCRIPT);
    ExternalTools.run(List.of(ExternalTools.PYTHON, script.toString(), dir.toString()));
  }

  private static float[][] rows(Path file) {
    try (FeatureRows f = FeatureRows.open(file)) {
      int[] index = new int[f.rows()];
      for (int r = 0; r < index.length; r++) {
        index[r] = index.length - 1 - r; // backwards: each row lands where it is asked for
      }
      ByteBuffer b = ByteBuffer.allocateDirect(f.rows() * f.dim() * 4).order(ByteOrder.nativeOrder());
      f.read(index, 0, index.length, b);
      float[][] out = new float[f.rows()][f.dim()];
      for (int i = 0; i < index.length; i++) {
        for (int k = 0; k < f.dim(); k++) {
          out[index[i]][k] = b.getFloat((i * f.dim() + k) * 4);
        }
      }
      return out;
    }
  }

  private static float[][] expected(float shift) {
    float[][] m = new float[5][3];
    for (int r = 0; r < 5; r++) {
      for (int k = 0; k < 3; k++) {
        m[r][k] = (3 * r + k) / 4f + shift;
      }
    }
    return m;
  }

  @ParameterizedTest
  @CsvSource({"f32.pt, float32", "f16.pt, float16", "bf16.pt, bfloat16", "f64.pt, float64", "dict.pt, float32",
      "dict-nocoords.pt, float16", "transposed.pt, float32", "little.pt, float32",
      "proto4.pt, float32"})
  void everyDtypeAndLayoutReadsTheSameMatrix(String name, String dtype) {
    Path file = dir.resolve(name);
    try (FeatureRows f = FeatureRows.open(file)) {
      assertEquals(5, f.rows());
      assertEquals(3, f.dim());
      assertEquals("pt", f.metadata().get("source"));
      assertEquals(dtype, f.metadata().get("dtype"));
    }
    assertArrayEquals(expected(0), rows(file), name);
  }

  @Test
  void aViewIntoALargerStorageStartsAtItsOffset() {
    // big[6:21].view(5, 3): torch.save writes all 40 elements of big's storage and offset 6
    assertArrayEquals(expected(6 / 4f), rows(dir.resolve("offset.pt")));
  }

  @Test
  void coordinatesComeFromTheDictTheSiblingH5OrTheRowIndex() throws Exception {
    try (FeatureRows f = FeatureRows.open(dir.resolve("dict.pt"))) {
      assertArrayEquals(new int[] {0, 1, 256, 513, 512, 1025, 768, 1537, 1024, 2049}, f.coordinates());
    }
    try (FeatureRows f = FeatureRows.open(dir.resolve("f32.pt"))) {
      assertEquals("row-index", f.metadata().get("coords"));
      assertArrayEquals(new int[] {0, 0, 1, 0, 2, 0, 3, 0, 4, 0}, f.coordinates());
    }
    // CLAM's layout: pt_files/<id>.pt beside h5_files/<id>.h5, whose coords belong to the .pt's rows
    Path clam = Files.createDirectories(dir.resolve("clam"));
    Path pt = Files.copy(dir.resolve("f16.pt"), Files.createDirectories(clam.resolve("pt_files")).resolve("s1.pt"));
    try (WritableHdfFile h5 = HdfFile.write(Files.createDirectories(clam.resolve("h5_files")).resolve("s1.h5"))) {
      h5.putDataset("coords", new int[][] {{10, 20}, {30, 40}, {50, 60}, {70, 80}, {90, 100}});
    }
    try (FeatureRows f = FeatureRows.open(pt)) {
      assertTrue(f.metadata().get("coords").endsWith("s1.h5"), f.metadata().toString());
      assertArrayEquals(new int[] {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, f.coordinates());
    }
    assertEquals(pt, FeatureRows.find(clam.resolve("pt_files"), "s1"));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "legacy.pt | legacy format",
      "1d.pt | has 1 dimensions [3]",
      "3d.pt | squeeze it",
      "long.pt | holds long, expected float32",
      "global.pt | global datetime.date is not allowed",
      "nofeatures.pt | without a 'features' tensor",
      "deflated.pt | is compressed (ZIP method 8)",
      "nostorage.pt | is missing",
      "short.pt | holds 56 bytes, but the pickle says 15 float elements (60 bytes)",
      "bigendian.pt | byteorder is 'big'"})
  void badFilesAreRefusedNamingTheFileAndTheFault(String name, String why) {
    Path file = dir.resolve(name);
    var e = assertThrows(FeatureFileException.class, () -> FeatureRows.open(file));
    assertEquals(file, e.file());
    assertTrue(e.getMessage().startsWith(file + ": ") && e.getMessage().contains(why), e.getMessage());
  }

  @Test
  void truncatedAndCorruptArchivesAreNamed() throws Exception {
    byte[] whole = Files.readAllBytes(dir.resolve("f32.pt"));
    Path cut = Files.write(dir.resolve("cut.pt"), Arrays.copyOf(whole, whole.length / 2));
    var e = assertThrows(FeatureFileException.class, () -> FeatureRows.open(cut));
    assertTrue(e.getMessage().startsWith(cut.toString()) && e.getMessage().contains("truncated"), e.getMessage());
    Path text = Files.writeString(dir.resolve("text.pt"), "not a tensor");
    e = assertThrows(FeatureFileException.class, () -> FeatureRows.open(text));
    assertTrue(e.getMessage().contains("not a torch.save ZIP archive"), e.getMessage());
    // an opcode torch never writes (BUILD) in place of the pickle's first global
    Path build = dir.resolve("build.pt");
    e = assertThrows(FeatureFileException.class, () -> FeatureRows.open(build));
    assertTrue(e.getMessage().contains("data.pkl byte 2: opcode 0x62 ('b')"), e.getMessage());
    // the same change made in place, behind the ZIP's back, fails data.pkl's checksum
    byte[] flipped = whole.clone();
    flipped[indexOf(flipped, "ctorch._utils".getBytes())] = 'b';
    Path corrupt = Files.write(dir.resolve("corrupt.pt"), flipped);
    e = assertThrows(FeatureFileException.class, () -> FeatureRows.open(corrupt));
    assertTrue(e.getMessage().startsWith(corrupt.toString()) && e.getMessage().contains("data.pkl is corrupt: its CRC-32"),
        e.getMessage());
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new AssertionError("not found");
  }
}
