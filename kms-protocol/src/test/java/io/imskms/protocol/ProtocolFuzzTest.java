package io.imskms.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.imskms.fuzz.FuzzBudget;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.Tuple.Tuple2;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * Fuzzing of every decoder of kms-protocol (jqwik; budget and seed: {@link FuzzBudget}).
 *
 * <p>Properties, each over every structure of {@link Codecs#all()}:
 * <ul>
 *   <li>a decoder either returns or throws {@link ProtocolException} with MALFORMED; nothing else
 *       (no runtime exception, no other code) for any input;
 *   <li>what it accepts is canonical: re-encoding the decoded value gives the input bytes, so no
 *       two byte strings decode to the same message (MACs and AADs are over bytes);
 *   <li>valid values round-trip; truncated or extended ones are MALFORMED; a structure of one type
 *       is MALFORMED for every other decoder; mutated and spliced messages obey the first two.
 * </ul>
 */
@AddLifecycleHook(FuzzBudget.class)
class ProtocolFuzzTest {

  // ---- generators ----

  @Provide
  Arbitrary<Tuple2<Codecs.Codec, byte[]>> validMessages() {
    return Arbitraries.of(Codecs.all()).flatMap(c -> c.valid().map(b -> Tuple.of(c, b)));
  }

  /** Random bytes, and random bytes behind a genuine version ‖ type header (gets past it). */
  @Provide
  Arbitrary<byte[]> noise() {
    Arbitrary<byte[]> raw = Codecs.bytes(0, Wire.MAX_OFFER + 64);
    Arbitrary<byte[]> headed = Combinators.combine(
        Arbitraries.of(Codecs.all()).filter(Codecs.Codec::headed), Codecs.bytes(0, 600))
        .as((c, tail) -> {
          byte[] b = new byte[tail.length + 2];
          b[0] = Wire.VERSION;
          b[1] = (byte) c.type();
          System.arraycopy(tail, 0, b, 2, tail.length);
          return b;
        });
    return Arbitraries.oneOf(raw, headed);
  }

  /** A valid message, then one of the mutations below, with its description. */
  @Provide
  Arbitrary<Mutated> mutatedMessages() {
    return Combinators.combine(validMessages(), Codecs.btidBytes(),
        Arbitraries.of(Mutation.class), Arbitraries.integers().between(0, Integer.MAX_VALUE),
        Arbitraries.integers().between(1, 64), Codecs.bytes(1, 64))
        .as((m, other, kind, at, len, extra) -> kind.apply(m.get1(), m.get2(), other, at, len,
            extra));
  }

  enum Mutation {
    FLIP_BIT, SET_BYTE, TRUNCATE, EXTEND, DELETE_RANGE, INSERT_RANGE, DUPLICATE_RANGE,
    SPLICE_FOREIGN, CHANGE_TYPE, LENGTH_PREFIX;

    Mutated apply(Codecs.Codec c, byte[] valid, byte[] foreign, int at, int len, byte[] extra) {
      int n = valid.length;
      int i = at % n;
      byte[] out;
      switch (this) {
        case FLIP_BIT -> {
          out = valid.clone();
          out[i] ^= (byte) (1 << (len % 8));
        }
        case SET_BYTE -> {
          out = valid.clone();
          out[i] = extra[0] == out[i] ? (byte) ~extra[0] : extra[0];
        }
        case TRUNCATE -> out = Arrays.copyOf(valid, i);
        case EXTEND -> out = concat(valid, extra);
        case DELETE_RANGE -> out = concat(Arrays.copyOf(valid, i),
            Arrays.copyOfRange(valid, Math.min(n, i + len), n));
        case INSERT_RANGE -> out = concat(concat(Arrays.copyOf(valid, i), extra),
            Arrays.copyOfRange(valid, i, n));
        case DUPLICATE_RANGE -> {
          byte[] range = Arrays.copyOfRange(valid, i, Math.min(n, i + len));
          out = concat(concat(Arrays.copyOf(valid, i), range), Arrays.copyOfRange(valid, i, n));
        }
        case SPLICE_FOREIGN -> {
          // a field of another structure (a B-TID's bytes) over this one's bytes from i on
          out = valid.clone();
          int k = Math.min(foreign.length, n - i);
          System.arraycopy(foreign, 0, out, i, k);
        }
        case CHANGE_TYPE -> {
          out = valid.clone();
          if (n > 1) {
            int other = Codecs.all().get(at % Codecs.all().size()).type();
            out[1] = (byte) (other == (valid[1] & 0xff) ? other + 1 : other);
          }
        }
        case LENGTH_PREFIX -> {
          // overwrite two bytes at i with a large or small u16, as a length prefix would be
          out = valid.clone();
          int v = extra[0] >= 0 ? 0xffff - (len % 4) : len % 3;
          out[i] = (byte) (v >>> 8);
          if (i + 1 < n) {
            out[i + 1] = (byte) v;
          }
        }
        default -> throw new IllegalStateException();
      }
      return new Mutated(c, valid, out, this + "@" + i);
    }
  }

  record Mutated(Codecs.Codec codec, byte[] original, byte[] bytes, String how) {
    @Override
    public String toString() {
      return codec + " " + how + " (" + original.length + " -> " + bytes.length + " bytes)";
    }
  }

  // ---- properties ----

  @Property(tries = 2000)
  void anyBytes_everyDecoder_returnsCanonicallyOrThrowsMalformedOnly(
      @ForAll("noise") byte[] input) {
    for (Codecs.Codec c : Codecs.all()) {
      decodeStrictly(c, input);
    }
  }

  @Property(tries = 1500)
  void validMessage_roundTripsByteForByte(@ForAll("validMessages") Tuple2<Codecs.Codec, byte[]> m)
      throws ProtocolException {
    Codecs.Codec c = m.get1();
    Object decoded = c.decoder().decode(m.get2());
    assertArrayEquals(m.get2(), c.reencode(decoded), c.name());
    assertArrayEquals(m.get2(), c.reencode(c.decoder().decode(c.reencode(decoded))), c.name());
  }

  @Property(tries = 1000)
  void validMessage_truncatedAnywhereOrExtended_isMalformed(
      @ForAll("validMessages") Tuple2<Codecs.Codec, byte[]> m,
      @ForAll @IntRange(min = 0, max = 4096) int cut, @ForAll @IntRange(min = 1, max = 8) int grow) {
    Codecs.Codec c = m.get1();
    byte[] b = m.get2();
    expectMalformed(c, Arrays.copyOf(b, cut % b.length), "truncated to " + (cut % b.length));
    expectMalformed(c, Arrays.copyOf(b, b.length + grow), "extended by " + grow);
  }

  @Property(tries = 500)
  void structureOfOneType_isMalformedForEveryOtherDecoder(
      @ForAll("validMessages") Tuple2<Codecs.Codec, byte[]> m) {
    if (!m.get1().headed()) {
      return; // the GCM plaintexts carry no type; they are only ever decoded after decryption
    }
    for (Codecs.Codec other : Codecs.all()) {
      if (!other.name().equals(m.get1().name()) && other.headed()) {
        expectMalformed(other, m.get2(), m.get1() + " as " + other);
      }
    }
  }

  @Property(tries = 1500)
  void mutatedMessage_isMalformedOrAnotherCanonicalMessage(@ForAll("mutatedMessages") Mutated m) {
    // decodeStrictly: MALFORMED, or a message that re-encodes to exactly the mutated bytes (so
    // never to the original one: a change is never silently normalised away)
    decodeStrictly(m.codec(), m.bytes());
  }

  @Property(tries = 2000)
  void identityNormalisation_isMalformedOrIdempotentAndBounded(
      @ForAll("identityNoise") String raw) {
    String n;
    try {
      n = Identity.normalise(raw);
    } catch (ProtocolException e) {
      assertEquals(ErrorCode.MALFORMED, e.code(), raw);
      assertFalse(Identity.isNormal(raw), raw);
      return;
    } catch (RuntimeException e) {
      throw new AssertionError("normalise threw " + e + " for " + printable(raw), e);
    }
    assertTrue(Identity.isNormal(n), n);
    assertEquals(n, assertDoesNotThrowProtocol(n));
    assertTrue(n.getBytes(StandardCharsets.UTF_8).length <= Identity.MAX_BYTES, n);
    assertTrue(n.startsWith("sip:") || n.startsWith("sips:") || n.startsWith("tel:"), n);
    assertEquals(Identity.isNormal(raw), n.equals(raw), raw);
  }

  @Property(tries = 1000)
  void identity_hostCaseIsIgnored_userCaseIsKept(@ForAll("sipIdentities") String id)
      throws ProtocolException {
    int at = id.lastIndexOf('@');
    int end = hostEnd(id);
    String upperHost = id.substring(0, at + 1) + id.substring(at + 1, end).toUpperCase(Locale.ROOT)
        + id.substring(end);
    assertEquals(id, Identity.normalise(upperHost));
    if (end < id.length()) {
      // port, parameters and headers are kept as they are
      String upperParams = id.substring(0, end) + id.substring(end).toUpperCase(Locale.ROOT);
      assertEquals(upperParams, Identity.normalise(upperParams));
    }
    assertEquals(id, Identity.normalise("  " + id + "\t"));
    String user = id.substring(id.indexOf(':') + 1, at);
    String otherUser = user.toUpperCase(Locale.ROOT);
    if (!otherUser.equals(user)) {
      String changed = id.substring(0, id.indexOf(':') + 1) + otherUser + id.substring(at);
      assertFalse(Identity.normalise(changed).equals(id), "user part case folded: " + id);
    }
  }

  @Property(tries = 1000)
  void receivedIdentityNotInNormalForm_isMalformedInEveryMessage(
      @ForAll("sipIdentities") String id, @ForAll @IntRange(min = 0, max = 3) int how)
      throws ProtocolException {
    int at = id.lastIndexOf('@');
    int end = hostEnd(id);
    String bad = switch (how) {
      case 0 -> id.substring(0, at + 1) + id.substring(at + 1, end).toUpperCase(Locale.ROOT)
          + id.substring(end);
      case 1 -> "SIP" + id.substring(id.indexOf(':'));
      case 2 -> id + " ";
      default -> id.substring(0, at) + "\u0000" + id.substring(at);
    };
    if (bad.equals(id)) {
      return; // nothing upper-case in the host (e.g. only digits and dots)
    }
    byte[] enc = rawIdPair(bad, id);
    expectMalformed(codec("IdPairSecret"), enc, "identity " + printable(bad));
  }

  @Property(tries = 2000)
  void btidText_anyString_isMalformedOrDecodes(@ForAll("textNoise") String text) {
    try {
      Btid b = Btid.fromText(text);
      assertNotNull(b);
      assertEquals(text, b.toText());
    } catch (ProtocolException e) {
      assertEquals(ErrorCode.MALFORMED, e.code());
    } catch (RuntimeException e) {
      throw new AssertionError("fromText threw " + e + " for " + printable(text), e);
    }
  }

  @Property(tries = 2000)
  void contexts_distinctFieldLists_giveDistinctBytes(
      @ForAll("labels") String l1, @ForAll("fieldLists") List<byte[]> f1,
      @ForAll("labels") String l2, @ForAll("fieldLists") List<byte[]> f2) {
    byte[] a = Contexts.of(l1, f1.toArray(new byte[0][]));
    byte[] b = Contexts.of(l2, f2.toArray(new byte[0][]));
    boolean sameInput = l1.equals(l2) && f1.size() == f2.size()
        && java.util.stream.IntStream.range(0, f1.size())
            .allMatch(i -> Arrays.equals(f1.get(i), f2.get(i)));
    assertEquals(sameInput, Arrays.equals(a, b), l1 + " / " + l2);
  }

  @Property(tries = 1000)
  void p256_validPointsAccepted_changedPointsRefused(@ForAll("points") byte[] p,
      @ForAll @IntRange(min = 1, max = 64) int index, @ForAll @IntRange(min = 0, max = 7) int bit)
      throws ProtocolException {
    P256.requireOnCurve(p);
    byte[] q = p.clone();
    q[index] ^= (byte) (1 << bit);
    ProtocolException e = assertThrows(ProtocolException.class, () -> P256.requireOnCurve(q));
    assertEquals(ErrorCode.MALFORMED, e.code());
  }

  @Property(tries = 2000)
  void wirePrimitives_roundTrip(@ForAll @IntRange(min = 0, max = 255) int u8,
      @ForAll @IntRange(min = 0, max = 65535) int u16,
      @ForAll("u32s") long u32, @ForAll long u64, @ForAll("smallBytes") byte[] var)
      throws ProtocolException {
    byte[] enc = new WireWriter().u8(u8).u16(u16).u32(u32).u64(u64).var(var, 300)
        .fixed(var, var.length).toByteArray();
    WireReader r = new WireReader(enc);
    assertEquals(u8, r.u8());
    assertEquals(u16, r.u16());
    assertEquals(u32, r.u32());
    assertEquals(u64, r.u64());
    assertArrayEquals(var, r.var(0, 300));
    assertArrayEquals(var, r.fixed(var.length));
    r.end();
    if (var.length > 0) {
      WireReader tight = new WireReader(new WireWriter().var(var, 300).toByteArray());
      assertEquals(ErrorCode.MALFORMED, assertThrows(ProtocolException.class,
          () -> tight.var(0, var.length - 1)).code());
    }
  }

  // ---- more generators ----

  @Provide
  Arbitrary<String> sipIdentities() {
    return Codecs.identities().filter(s -> s.startsWith("sip"));
  }

  /** Any string; valid identities with one character changed or inserted; tricky characters. */
  @Provide
  Arbitrary<String> identityNoise() {
    Arbitrary<String> any = Arbitraries.strings().all().ofMaxLength(300);
    Arbitrary<Character> tricky = Arbitraries.of('\u0000', '\t', ' ', '\u00a0', '\u2028',
        '\ud800', '\udc00', '@', ':', ';', '?', 'İ', 'ſ', 'K', '\u007f', '\u0085');
    Arbitrary<String> edited = Combinators.combine(Codecs.identities(), tricky,
        Arbitraries.integers().between(0, 300), Arbitraries.of(true, false))
        .as((id, ch, at, insert) -> {
          int i = at % (id.length() + 1);
          return insert || i == id.length() ? id.substring(0, i) + ch + id.substring(i)
              : id.substring(0, i) + ch + id.substring(i + 1);
        });
    Arbitrary<String> schemes = Combinators.combine(
        Arbitraries.of("sip:", "SIP:", "sips:", "Tel:", "tel:", "mailto:", ":", "", "sip:@",
            "sip:a@", "tel:", "sIp:"),
        Arbitraries.strings().ascii().ofMaxLength(40)).as((s, t) -> s + t);
    Arbitrary<String> tooLong = Arbitraries.integers().between(240, 300)
        .map(n -> "sip:" + "\u00e9".repeat(n / 2) + "@h");
    return Arbitraries.oneOf(any, edited, schemes, tooLong);
  }

  @Provide
  Arbitrary<String> textNoise() {
    Arbitrary<String> b64 = Arbitraries.strings()
        .withChars("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ ")
        .ofMaxLength(800);
    Arbitrary<String> genuine = Codecs.btids().map(Btid::toText);
    Arbitrary<String> edited = Combinators.combine(genuine,
        Arbitraries.integers().between(0, 1000), Arbitraries.chars().all())
        .as((t, at, ch) -> {
          int i = at % t.length();
          return t.substring(0, i) + ch + t.substring(i + 1);
        });
    Arbitrary<String> padded = Combinators.combine(genuine, Arbitraries.of("=", "==", "\n", " "))
        .as((t, pad) -> t + pad);
    return Arbitraries.oneOf(b64, genuine, edited, padded,
        Arbitraries.strings().all().ofMaxLength(100));
  }

  @Provide
  Arbitrary<String> labels() {
    return Arbitraries.of(Labels.MEDIA, Labels.MEDIA_CHUNKS, Labels.REQ, "a", "ab", "");
  }

  /** Short fields over a two-letter alphabet, so that different lists often share bytes. */
  @Provide
  Arbitrary<List<byte[]>> fieldLists() {
    return Arbitraries.bytes().between((byte) 0, (byte) 1).array(byte[].class).ofMaxSize(3)
        .list().ofMaxSize(3);
  }

  @Provide
  Arbitrary<byte[]> points() {
    return Codecs.p256Points();
  }

  @Provide
  Arbitrary<Long> u32s() {
    return Arbitraries.longs().between(0, 0xffffffffL);
  }

  @Provide
  Arbitrary<byte[]> smallBytes() {
    return Codecs.bytes(0, 300);
  }

  // ---- helpers ----

  /**
   * Decodes; fails the property on anything but MALFORMED or a canonical success. Returns the
   * decoded value or null.
   */
  static Object decodeStrictly(Codecs.Codec c, byte[] input) {
    Object decoded;
    try {
      decoded = c.decoder().decode(input);
    } catch (ProtocolException e) {
      if (e.code() != ErrorCode.MALFORMED) {
        throw new AssertionError(c + " refused with " + e.code() + ", documented: MALFORMED");
      }
      return null;
    } catch (RuntimeException | Error e) {
      throw new AssertionError(c + " threw " + e + " (only ProtocolException is documented)", e);
    }
    byte[] again = c.reencode(decoded);
    if (c.type() == Wire.T_ERROR) {
      // An error code this client does not know reads as MALFORMED (ErrorCode.ofNumber): the
      // one structure whose decoding is not injective, on purpose (forward compatibility).
      assertEquals(input.length, again.length);
      return decoded;
    }
    assertArrayEquals(input, again, c + ": accepted bytes that do not re-encode to themselves");
    return decoded;
  }

  private static void expectMalformed(Codecs.Codec c, byte[] input, String what) {
    try {
      c.decoder().decode(input);
      fail(c + " accepted " + what);
    } catch (ProtocolException e) {
      assertEquals(ErrorCode.MALFORMED, e.code(), c + " " + what);
    } catch (RuntimeException e) {
      throw new AssertionError(c + " threw " + e + " for " + what, e);
    }
  }

  private static String assertDoesNotThrowProtocol(String n) {
    try {
      return Identity.normalise(n);
    } catch (ProtocolException e) {
      throw new AssertionError("normal form refused on second pass: " + n, e);
    }
  }

  /** Where the host of a sip/sips identity ends (docs/protocol.md §2, rule 4). */
  private static int hostEnd(String id) {
    int at = id.lastIndexOf('@');
    int end = id.length();
    for (char stop : new char[] {';', '?', ':'}) {
      int p = id.indexOf(stop, at + 1);
      if (p >= 0 && p < end) {
        end = p;
      }
    }
    return end;
  }

  private static Codecs.Codec codec(String name) {
    return Codecs.all().stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
  }

  /** An IdPairSecret with a first identity the writer would refuse (built by hand). */
  private static byte[] rawIdPair(String first, String second) {
    byte[] f = first.getBytes(StandardCharsets.UTF_8);
    return new WireWriter().u16(f.length).raw(f).identity(second).fixed(new byte[16], 16).u64(1)
        .toByteArray();
  }

  private static String printable(String s) {
    StringBuilder b = new StringBuilder();
    for (char ch : s.toCharArray()) {
      b.append(ch >= 0x20 && ch < 0x7f ? String.valueOf(ch) : String.format("\\u%04x", (int) ch));
    }
    return b.toString();
  }

  static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  static List<String> names() {
    List<String> out = new ArrayList<>();
    Codecs.all().forEach(c -> out.add(c.name()));
    return out;
  }
}
