package io.imskms.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The exact edges of the rules that the fuzz properties reach only by chance: size limits at their
 * value, identity corner cases, non-canonical P-256 coordinates, and every KDF context of
 * docs/protocol.md §1.1 field by field. Written where mutation testing (PIT) showed a changed
 * boundary going unnoticed.
 */
class BoundaryTest {
  static final String A = "sip:alice@ims.example.com";
  static final String B = "sip:bob@ims.example.com";

  private static ErrorCode refusal(Codecs.Decoder d, byte[] b) {
    return assertThrows(ProtocolException.class, () -> d.decode(b)).code();
  }

  @Test
  void offer_ofExactlyTheMaximumSize_isAccepted_oneByteMoreIsMalformed() throws Exception {
    // the field limits allow 2068 bytes (255-byte identities, a 512-byte B-TID field, 1024 bytes
    // of ciphertext): the 2048 limit of the whole offer is a rule of its own
    String longA = "sip:" + "a".repeat(249) + "@h";
    String longB = "sip:" + "b".repeat(249) + "@h";
    byte[] btid = new byte[Wire.MAX_BTID];
    int fixed = new Offer(longA, longB, btid, new byte[12], new byte[17]).encode().length - 17;
    int ct = Wire.MAX_OFFER - fixed;
    byte[] max = new Offer(longA, longB, btid, new byte[12], new byte[ct]).encode();
    assertEquals(Wire.MAX_OFFER, max.length);
    assertArrayEquals(max, Offer.decode(max).encode());
    byte[] over = new Offer(longA, longB, btid, new byte[12], new byte[ct + 1]).encode();
    assertEquals(ErrorCode.MALFORMED, refusal(Offer::decode, over));
  }

  @Test
  void ticket_ofMoreThanTheMaximumSize_isMalformedBeforeParsing() {
    byte[] over = new byte[Wire.MAX_TICKET + 1];
    over[0] = Wire.VERSION;
    over[1] = Wire.T_TICKET;
    assertEquals(ErrorCode.MALFORMED, refusal(Ticket::decode, over));
  }

  @Test
  void mailboxKeyRequest_flagsZero_doesNotAskForKe2m() throws Exception {
    byte[] b = new MailboxKeyRequest(false, A, new byte[3], new byte[4], new byte[12],
        new byte[17]).encode();
    assertEquals(false, MailboxKeyRequest.decode(b).wantE2m());
    assertEquals(false, UeADelivery.decode(new UeADelivery(new byte[40], null).encode())
        .wrappedKe2m() != null);
  }

  @Test
  void sipIdentity_withEmptyHostBeforeParametersPortOrHeaders_isMalformed() {
    for (String bad : new String[] {"sip:alice@;transport=tcp", "sip:alice@:5060",
        "sip:alice@?x=y", "sips:;a", "sip::5060"}) {
      assertThrows(ProtocolException.class, () -> Identity.normalise(bad), bad);
    }
  }

  @Test
  void identity_surrogates_acceptedOnlyAsPairs() throws Exception {
    String pair = "sip:a\ud83d\ude00b@ims.example.com";
    assertEquals(pair, Identity.normalise(pair));
    for (String bad : new String[] {"sip:a\ud83d@x.com", "sip:a\ude00@x.com",
        "sip:a\ude00\ud83d@x.com", "sip:ab@x.com\ud83d", "\ude00sip:a@x.com"}) {
      assertThrows(ProtocolException.class, () -> Identity.normalise(bad), bad);
    }
  }

  @Test
  void identity_schemeOnlyOrColonFirst_isMalformed() {
    for (String bad : new String[] {":alice@x.com", "sip", "@x.com"}) {
      assertThrows(ProtocolException.class, () -> Identity.normalise(bad), bad);
    }
  }

  /**
   * (0, sqrt(b)) is on P-256; (p, sqrt(b)) is the same point with x not reduced mod p. Accepting
   * it would give one public key two encodings.
   */
  @Test
  void p256_coordinateNotReducedModP_isRefused() throws Exception {
    BigInteger p = new BigInteger(
        "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", 16);
    BigInteger b = new BigInteger(
        "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b", 16);
    BigInteger y = b.modPow(p.add(BigInteger.ONE).shiftRight(2), p);
    byte[] onCurve = point(BigInteger.ZERO, y);
    P256.requireOnCurve(onCurve);
    assertThrows(ProtocolException.class, () -> P256.requireOnCurve(point(p, y)));
    assertThrows(ProtocolException.class, () -> P256.requireOnCurve(Arrays.copyOf(onCurve, 64)));
    assertThrows(ProtocolException.class, () -> P256.requireOnCurve(null));
  }

  @Test
  void enrolmentRequest_withAPointOffTheCurve_isMalformed() throws Exception {
    byte[] good = P256Points.SAMPLE.get(0);
    EnrolmentRequest.decode(new EnrolmentRequest(Role.UE, A, good).encode());
    byte[] off = good.clone();
    off[64] ^= 1;
    assertEquals(ErrorCode.MALFORMED,
        refusal(EnrolmentRequest::decode, new EnrolmentRequest(Role.UE, A, off).encode()));
  }

  private static byte[] point(BigInteger x, BigInteger y) {
    byte[] out = new byte[65];
    out[0] = 4;
    byte[] xb = x.toByteArray();
    byte[] yb = y.toByteArray();
    int xl = Math.min(32, xb.length);
    int yl = Math.min(32, yb.length);
    System.arraycopy(xb, xb.length - xl, out, 33 - xl, xl);
    System.arraycopy(yb, yb.length - yl, out, 65 - yl, yl);
    return out;
  }

  // ---- KDF contexts, docs/protocol.md §1.1 ----

  /** Parses {@code label ‖ 0x00 ‖ var(f1) ‖ ... ‖ var(fn)}; fails on anything else. */
  private static List<byte[]> fields(byte[] ctx, String label) throws ProtocolException {
    byte[] l = label.getBytes(StandardCharsets.US_ASCII);
    assertArrayEquals(l, Arrays.copyOf(ctx, l.length), "label");
    assertEquals(0, ctx[l.length], "zero byte after the label");
    WireReader r = new WireReader(Arrays.copyOfRange(ctx, l.length + 1, ctx.length));
    List<byte[]> out = new ArrayList<>();
    while (r.position() < ctx.length - l.length - 1) {
      out.add(r.var(0, 0xffff));
    }
    r.end();
    return out;
  }

  private static void assertFields(byte[] ctx, String label, byte[]... expected)
      throws ProtocolException {
    List<byte[]> got = fields(ctx, label);
    assertEquals(expected.length, got.size(), label + ": number of fields");
    for (int i = 0; i < expected.length; i++) {
      assertArrayEquals(expected[i], got.get(i), label + ": field " + i);
    }
  }

  private static byte[] u(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void everyContext_hasTheLabelAndFieldsOfTheProtocolTable() throws Exception {
    byte[] n = new byte[16];
    Arrays.fill(n, (byte) 7);
    byte[] ra = new byte[32];
    Arrays.fill(ra, (byte) 9);
    byte[] blob = u("some bytes");
    byte[] eph = P256Points.SAMPLE.get(0);
    byte[] dev = P256Points.SAMPLE.get(1);
    assertFields(Contexts.cred(Role.MAILBOX, A), Labels.CRED, new byte[] {2}, u(A));
    assertFields(Contexts.auth(), Labels.AUTH);
    assertFields(Contexts.autn(n, blob), Labels.AUTN, n, blob);
    assertFields(Contexts.sessionKey(blob), Labels.KS, Contexts.sha256(blob));
    assertFields(Contexts.request(Wire.T_RETRIEVAL_REQUEST), Labels.REQ, new byte[] {0x21});
    assertFields(Contexts.media(ra, A, B), Labels.MEDIA, ra, u(A), u(B));
    assertFields(Contexts.respA(ra, n, A, B), Labels.RESP_A, Contexts.sha256(ra), n, u(A), u(B));
    assertFields(Contexts.respM(n), Labels.RESP_M, n);
    assertFields(Contexts.respB(n, blob, A, B), Labels.RESP_B, n, Contexts.sha256(blob), u(A),
        u(B));
    assertFields(Contexts.ticketKek(blob), Labels.TICKET_KEK, Contexts.sha256(blob));
    assertFields(Contexts.e2mA(n, A, B), Labels.E2M_A, n, u(A), u(B));
    assertFields(Contexts.e2mM(n, A, B), Labels.E2M_M, n, u(A), u(B));
    assertFields(Contexts.enrolKek(eph, dev, Role.UE, A), Labels.ENROL_KEK, eph, dev,
        new byte[] {1}, u(A));
  }

  @Test
  void contextOfAlicesCredential_isTheWorkedExampleOfTheProtocol() {
    // docs/protocol.md §13, example "context-cred-alice"
    assertEquals("696d736b6d732f76312f637265640000010100197369703a616c69636540696d"
        + "732e6578616d706c652e636f6d", HexFormat.of().formatHex(Contexts.cred(Role.UE, A)));
    assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        HexFormat.of().formatHex(Contexts.sha256(new byte[0])));
  }

  // ---- accessors and reader/writer bookkeeping used by the other modules ----

  @Test
  void offerSecret_keepsEveryFieldAndCopiesItsArrays() throws Exception {
    byte[] ra = new byte[32];
    Arrays.fill(ra, (byte) 3);
    byte[] nonce = new byte[16];
    Arrays.fill(nonce, (byte) 4);
    OfferSecret s = OfferSecret.decode(new OfferSecret(ra, A, B, nonce, 77).encode());
    assertArrayEquals(ra, s.ra());
    assertArrayEquals(nonce, s.nonce());
    assertEquals(List.of(A, B, 77L), List.of(s.idA(), s.idB(), s.timestampMs()));
    s.ra()[0] = 0;
    assertArrayEquals(ra, s.ra());
    assertEquals("OfferSecret[" + A + " -> " + B + "]", s.toString());
    assertThrows(IllegalArgumentException.class,
        () -> new OfferSecret(new byte[31], A, B, nonce, 1));
  }

  @Test
  void readerPositionAndSlice_andWriterSize_trackTheBytes() throws Exception {
    WireWriter w = new WireWriter().u8(1).u16(2).u32(3);
    assertEquals(7, w.size());
    WireReader r = new WireReader(w.toByteArray());
    r.u8();
    assertEquals(1, r.position());
    r.u16();
    assertArrayEquals(new byte[] {0, 2}, r.slice(1));
    assertEquals(3, r.position());
  }
}
