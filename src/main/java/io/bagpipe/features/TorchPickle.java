package io.bagpipe.features;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A strict interpreter for the {@code data.pkl} that {@code torch.save} writes for a tensor or a
 * dict of tensors. Python's pickle format is a small stack machine whose {@code GLOBAL} and
 * {@code REDUCE} opcodes call arbitrary functions; this one calls nothing. It knows the few
 * opcodes torch emits (protocol 2, also the framing of 4 and 5) and an allow-list of globals:
 * {@code torch._utils._rebuild_tensor_v2}, {@code collections.OrderedDict} and the typed storage
 * classes. {@code _rebuild_tensor_v2} becomes a {@link Tensor} record (no data is read), a storage
 * persistent id ({@code BINPERSID} of {@code ('storage', torch.FloatStorage, key, location,
 * numel)}) a {@link Storage}. Anything else is refused naming the file, the opcode and its offset.
 */
final class TorchPickle {

  /** Element types of torch storages, with their bytes per element. */
  enum DType {
    FLOAT(4), HALF(2), BFLOAT16(2), DOUBLE(8), LONG(8), INT(4);

    final int bytes;

    DType(int bytes) {
      this.bytes = bytes;
    }

    boolean floating() {
      return this == FLOAT || this == HALF || this == BFLOAT16 || this == DOUBLE;
    }
  }

  /** A storage named by the pickle: {@code data/<key>} in the archive, {@code numel} elements. */
  record Storage(DType dtype, String key, String location, long numel) {}

  /** A tensor view of a storage: {@code _rebuild_tensor_v2(storage, offset, size, stride, ...)}. */
  record Tensor(Storage storage, long offset, long[] size, long[] stride) {}

  /** A global the allow-list admits, waiting to be called by {@code REDUCE}. */
  private record Global(String module, String name) {}

  private static final Set<String> GLOBALS = Set.of("torch._utils._rebuild_tensor_v2", "collections.OrderedDict",
      "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage", "torch.LongStorage",
      "torch.IntStorage");

  private static final Object MARK = new Object();
  private static final Object NONE = new Object();

  private final Path file;
  private final byte[] b;
  private int pos;
  private final Deque<Object> stack = new ArrayDeque<>();
  private final Deque<Deque<Object>> marks = new ArrayDeque<>();
  private final Map<Long, Object> memo = new HashMap<>();

  private TorchPickle(Path file, byte[] pickle) {
    this.file = file;
    this.b = pickle;
  }

  /**
   * Runs {@code pickle} (the bytes of {@code data.pkl} of {@code file}) and returns what it
   * builds: a {@link Tensor}, a {@code Map<Object, Object>} (dict or OrderedDict), a
   * {@code List<Object>} (tuple or list), a {@code Long}, {@code String}, {@code Boolean} or null.
   *
   * @throws FeatureFileException on an opcode or global outside the allow-list, or malformed bytes
   */
  static Object load(Path file, byte[] pickle) {
    return new TorchPickle(file, pickle).run();
  }

  private Object run() {
    while (true) {
      if (pos >= b.length) {
        throw bad(pos, "data.pkl ends before its STOP opcode (truncated)");
      }
      int at = pos;
      int op = b[pos++] & 0xff;
      switch (op) {
        case 0x80 -> { // PROTO
          int v = u8();
          if (v < 2 || v > 5) {
            throw bad(at, "pickle protocol " + v + ", expected 2 to 5");
          }
        }
        case 0x95 -> skip(8); // FRAME: a length hint
        case 'c' -> stack.push(global(at, line(), line())); // GLOBAL
        case 0x93 -> { // STACK_GLOBAL
          Object name = pop(at);
          Object module = pop(at);
          if (!(module instanceof String m) || !(name instanceof String n)) {
            throw bad(at, "STACK_GLOBAL of non-strings");
          }
          stack.push(global(at, m, n));
        }
        case 'X' -> stack.push(utf8(at, u32(at))); // BINUNICODE
        case 0x8c -> stack.push(utf8(at, u8())); // SHORT_BINUNICODE
        case 0x8d -> stack.push(utf8(at, u64(at))); // BINUNICODE8
        case 'J' -> stack.push((long) i32()); // BININT
        case 'K' -> stack.push((long) u8()); // BININT1
        case 'M' -> stack.push((long) (u8() | u8() << 8)); // BININT2
        case 0x8a -> stack.push(long1(at)); // LONG1
        case 0x88 -> stack.push(Boolean.TRUE); // NEWTRUE
        case 0x89 -> stack.push(Boolean.FALSE); // NEWFALSE
        case 'N' -> stack.push(NONE); // NONE
        case ')' -> stack.push(List.of()); // EMPTY_TUPLE
        case 0x85 -> stack.push(List.of(pop(at))); // TUPLE1
        case 0x86 -> { // TUPLE2
          Object y = pop(at);
          stack.push(List.of(pop(at), y));
        }
        case 0x87 -> { // TUPLE3
          Object z = pop(at);
          Object y = pop(at);
          stack.push(List.of(pop(at), y, z));
        }
        case '(' -> { // MARK
          marks.push(new ArrayDeque<>(stack));
          stack.clear();
          stack.push(MARK);
        }
        case 't' -> stack.push(List.copyOf(popMark(at))); // TUPLE
        case ']' -> stack.push(new ArrayList<>()); // EMPTY_LIST
        case '}' -> stack.push(new LinkedHashMap<>()); // EMPTY_DICT
        case 'a' -> { // APPEND
          Object v = pop(at);
          list(at, peek(at)).add(v);
        }
        case 'e' -> { // APPENDS
          List<Object> items = popMark(at);
          list(at, peek(at)).addAll(items);
        }
        case 's' -> { // SETITEM
          Object v = pop(at);
          Object k = pop(at);
          dict(at, peek(at)).put(k, v);
        }
        case 'u' -> { // SETITEMS
          List<Object> items = popMark(at);
          Map<Object, Object> d = dict(at, peek(at));
          for (int i = 0; i + 1 < items.size(); i += 2) {
            d.put(items.get(i), items.get(i + 1));
          }
        }
        case 'Q' -> stack.push(storage(at, pop(at))); // BINPERSID
        case 'R' -> { // REDUCE
          Object args = pop(at);
          stack.push(reduce(at, pop(at), args));
        }
        case 'q' -> memo.put((long) u8(), peek(at)); // BINPUT
        case 'r' -> memo.put((long) u32(at), peek(at)); // LONG_BINPUT
        case 0x94 -> memo.put((long) memo.size(), peek(at)); // MEMOIZE
        case 'h' -> stack.push(memoGet(at, u8())); // BINGET
        case 'j' -> stack.push(memoGet(at, u32(at))); // LONG_BINGET
        case '.' -> { // STOP
          Object v = pop(at);
          return v == NONE ? null : v;
        }
        default -> throw bad(at, String.format("opcode 0x%02x%s is not one torch.save of tensors emits; refused"
            + " (only tensors, dicts of tensors, ints and strings are read, and no code is run)", op,
            op >= 0x20 && op < 0x7f ? " ('" + (char) op + "')" : ""));
      }
    }
  }

  private Global global(int at, String module, String name) {
    String full = module + "." + name;
    if (!GLOBALS.contains(full)) {
      throw bad(at, "global " + full + " is not allowed; a torch.save'd tensor or dict of tensors only names "
          + String.join(", ", GLOBALS.stream().sorted().toList()));
    }
    return new Global(module, name);
  }

  private Object reduce(int at, Object callable, Object args) {
    if (!(callable instanceof Global g) || !(args instanceof List<?> a)) {
      throw bad(at, "REDUCE of " + describe(callable) + " with " + describe(args) + "; only globals with a tuple"
          + " of arguments are called");
    }
    return switch (g.module() + "." + g.name()) {
      case "collections.OrderedDict" -> {
        if (!a.isEmpty()) {
          throw bad(at, "OrderedDict called with arguments");
        }
        yield new LinkedHashMap<>();
      }
      case "torch._utils._rebuild_tensor_v2" -> tensor(at, a);
      default -> throw bad(at, "global " + g.module() + "." + g.name() + " cannot be called");
    };
  }

  private Tensor tensor(int at, List<?> a) {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (a.size() < 4 || !(a.get(0) instanceof Storage s) || !(a.get(1) instanceof Long offset)) {
      throw bad(at, "_rebuild_tensor_v2 called with " + describe(a) + ", expected (storage, offset, size, stride, ...)");
    }
    long[] size = longs(at, a.get(2), "size");
    long[] stride = longs(at, a.get(3), "stride");
    if (size.length != stride.length) {
      throw bad(at, "tensor size " + java.util.Arrays.toString(size) + " and stride "
          + java.util.Arrays.toString(stride) + " differ in length");
    }
    return new Tensor(s, offset, size, stride);
  }

  private long[] longs(int at, Object o, String what) {
    if (!(o instanceof List<?> l)) {
      throw bad(at, "tensor " + what + " is " + describe(o) + ", expected a tuple of ints");
    }
    long[] out = new long[l.size()];
    for (int i = 0; i < out.length; i++) {
      if (!(l.get(i) instanceof Long v) || v < 0) {
        throw bad(at, "tensor " + what + " holds " + describe(l.get(i)) + ", expected non-negative ints");
      }
      out[i] = v;
    }
    return out;
  }

  private Storage storage(int at, Object pid) {
    if (!(pid instanceof List<?> t) || t.size() != 5 || !"storage".equals(t.get(0))) {
      throw bad(at, "persistent id " + describe(pid) + ", expected ('storage', type, key, location, numel)");
    }
    if (!(t.get(1) instanceof Global g) || !g.name().endsWith("Storage") || !(t.get(2) instanceof String key)
        || !(t.get(3) instanceof String location) || !(t.get(4) instanceof Long numel) || numel < 0) {
      throw bad(at, "persistent id " + describe(pid) + ", expected ('storage', torch.<Type>Storage, key, location,"
          + " numel)");
    }
    DType dtype = switch (g.name()) {
      case "FloatStorage" -> DType.FLOAT;
      case "HalfStorage" -> DType.HALF;
      case "BFloat16Storage" -> DType.BFLOAT16;
      case "DoubleStorage" -> DType.DOUBLE;
      case "LongStorage" -> DType.LONG;
      case "IntStorage" -> DType.INT;
      default -> throw bad(at, "storage type torch." + g.name() + " is not read");
    };
    return new Storage(dtype, key, location, numel);
  }

  @SuppressWarnings("unchecked")
  private List<Object> list(int at, Object o) {
    if (o instanceof ArrayList<?> l) {
      return (List<Object>) l;
    }
    throw bad(at, "APPEND to " + describe(o) + ", not a list");
  }

  @SuppressWarnings("unchecked")
  private Map<Object, Object> dict(int at, Object o) {
    if (o instanceof LinkedHashMap<?, ?> m) {
      return (Map<Object, Object>) m;
    }
    throw bad(at, "SETITEM on " + describe(o) + ", not a dict");
  }

  private List<Object> popMark(int at) {
    List<Object> items = new ArrayList<>();
    while (true) {
      if (stack.isEmpty()) {
        throw bad(at, "no MARK on the stack");
      }
      Object o = stack.pop();
      if (o == MARK) {
        break;
      }
      items.addFirst(o);
    }
    if (!stack.isEmpty() || marks.isEmpty()) {
      throw bad(at, "no MARK on the stack");
    }
    Deque<Object> below = marks.pop();
    stack.addAll(below);
    return items;
  }

  private Object memoGet(int at, long key) {
    Object v = memo.get(key);
    if (v == null) {
      throw bad(at, "memo entry " + key + " read before it was written");
    }
    return v;
  }

  private Object pop(int at) {
    if (stack.isEmpty() || stack.peek() == MARK) {
      throw bad(at, "stack underflow");
    }
    return stack.pop();
  }

  private Object peek(int at) {
    if (stack.isEmpty() || stack.peek() == MARK) {
      throw bad(at, "stack underflow");
    }
    return stack.peek();
  }

  private int u8() {
    need(pos, 1);
    return b[pos++] & 0xff;
  }

  private int i32() {
    need(pos, 4);
    int v = (b[pos] & 0xff) | (b[pos + 1] & 0xff) << 8 | (b[pos + 2] & 0xff) << 16 | b[pos + 3] << 24;
    pos += 4;
    return v;
  }

  private long u32(int at) {
    return i32() & 0xffffffffL;
  }

  private long u64(int at) {
    long lo = u32(at);
    long hi = u32(at);
    if (hi != 0) {
      throw bad(at, "length over 4 GB");
    }
    return lo;
  }

  private Long long1(int at) {
    int n = u8();
    if (n > 8) {
      throw bad(at, "LONG1 of " + n + " bytes: an int beyond 64 bits");
    }
    need(pos, n);
    long v = 0;
    for (int i = 0; i < n; i++) {
      v |= (long) (b[pos + i] & 0xff) << (8 * i);
    }
    if (n > 0 && n < 8 && b[pos + n - 1] < 0) {
      v |= -1L << (8 * n); // sign-extend
    }
    pos += n;
    return v;
  }

  private String utf8(int at, long length) {
    need(pos, length);
    String s = new String(b, pos, (int) length, StandardCharsets.UTF_8);
    pos += (int) length;
    return s;
  }

  private String line() {
    int start = pos;
    while (pos < b.length && b[pos] != '\n') {
      pos++;
    }
    need(pos, 1);
    return new String(b, start, pos++ - start, StandardCharsets.US_ASCII);
  }

  private void skip(int n) {
    need(pos, n);
    pos += n;
  }

  private void need(int from, long n) {
    if (from + n > b.length) {
      throw bad(from, "data.pkl ends inside an opcode's argument (truncated)");
    }
  }

  private static String describe(Object o) {
    return switch (o) {
      case null -> "None";
      case Global g -> g.module() + "." + g.name();
      case String s -> "'" + s + "'";
      case List<?> l -> "(" + String.join(", ", l.stream().map(TorchPickle::describe).toList()) + ")";
      case Map<?, ?> m -> "dict";
      case Tensor t -> "tensor";
      case Storage s -> "storage";
      default -> o == NONE ? "None" : o == MARK ? "MARK" : o.toString();
    };
  }

  private FeatureFileException bad(int offset, String problem) {
    return new FeatureFileException(file, "data.pkl byte " + offset + ": " + problem);
  }
}
