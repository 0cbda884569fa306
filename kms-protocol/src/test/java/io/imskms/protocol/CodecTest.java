package io.imskms.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Every structure round-trips, and every truncation, extension or bad header is MALFORMED. */
class CodecTest {
  static final String A = "sip:alice@ims.example.com";
  static final String B = "sip:bob@ims.example.com";
  static final String M = "sip:vm.bob@ims.example.com";

  @FunctionalInterface
  interface Decoder {
    Object decode(byte[] b) throws ProtocolException;
  }

  static byte[] n(int len, int v) {
    byte[] b = new byte[len];
    Arrays.fill(b, (byte) v);
    return b;
  }

  static Map<byte[], Decoder> samples() {
    byte[] btid = new Btid(Role.UE, A, n(16, 1), 5, 1, 2, n(32, 2)).encode();
    byte[] offer = new Offer(A, B, btid, n(12, 3), n(40, 4)).encode();
    byte[] ticket = new Ticket(A, B, M, n(32, 5), 6, 1, 1, n(40, 6)).encode();
    byte[] delivery = new UeADelivery(n(40, 7), n(40, 8)).encode();
    Map<byte[], Decoder> m = new LinkedHashMap<>();
    m.put(new BootstrapRequest(Role.MAILBOX, M, 1, n(16, 9), 7, n(32, 9)).encode(),
        BootstrapRequest::decode);
    m.put(btid, Btid::decode);
    m.put(new BootstrapResponse(btid, n(32, 10)).encode(), BootstrapResponse::decode);
    m.put(offer, Offer::decode);
    m.put(new OfferSecret(n(32, 11), A, B, n(16, 12), 8).encode(), OfferSecret::decode);
    m.put(new IdPairSecret(A, M, n(16, 13), 9).encode(), IdPairSecret::decode);
    m.put(new MailboxKeyRequest(true, M, btid, offer, n(12, 14), n(60, 15)).encode(),
        MailboxKeyRequest::decode);
    m.put(delivery, UeADelivery::decode);
    m.put(new UeADelivery(n(40, 7), null).encode(), UeADelivery::decode);
    m.put(ticket, Ticket::decode);
    m.put(new MailboxKeyResponse(delivery, ticket, n(40, 16), n(32, 17)).encode(),
        MailboxKeyResponse::decode);
    m.put(new MailboxKeyResponse(delivery, ticket, null, n(32, 17)).encode(),
        MailboxKeyResponse::decode);
    m.put(new RetrievalRequest(btid, offer, ticket, n(12, 18), n(60, 19)).encode(),
        RetrievalRequest::decode);
    m.put(new RetrievalResponse(n(40, 20)).encode(), RetrievalResponse::decode);
    m.put(new ErrorResponse(ErrorCode.REPLAY).encode(), ErrorResponse::decode);
    m.put(new EnrolmentFile(Role.UE, A, 3, n(65, 4), n(40, 21)).encode(), EnrolmentFile::decode);
    // version 2: a re-enrolled principal's credential generation
    m.put(new Btid(Role.UE, A, n(16, 1), 5, 1, 2, n(32, 2), 7).encode(), Btid::decode);
    m.put(new BootstrapRequest(Role.UE, A, 1, n(16, 9), 7, n(32, 9), 3).encode(),
        BootstrapRequest::decode);
    m.put(new EnrolmentFile(Role.UE, A, 3, n(65, 4), n(40, 21), 2).encode(),
        EnrolmentFile::decode);
    return m;
  }

  @Test
  void everyStructure_truncatedOrExtended_isMalformed() throws Exception {
    List<String> failures = new ArrayList<>();
    int i = 0;
    for (Map.Entry<byte[], Decoder> e : samples().entrySet()) {
      byte[] b = e.getKey();
      e.getValue().decode(b);
      for (int len = 0; len < b.length; len++) {
        expectMalformed(e.getValue(), Arrays.copyOf(b, len), i + " truncated " + len, failures);
      }
      expectMalformed(e.getValue(), Arrays.copyOf(b, b.length + 1), i + " extended", failures);
      i++;
    }
    assertEquals(List.of(), failures);
  }

  @Test
  void everyMessage_withWrongVersionOrType_isMalformed() throws Exception {
    List<String> failures = new ArrayList<>();
    for (Map.Entry<byte[], Decoder> e : samples().entrySet()) {
      byte[] b = e.getKey();
      if (b[0] != Wire.VERSION && b[0] != Wire.VERSION_GENERATION) {
        continue; // the plaintext structures inside Ea/Em/Eb have no header
      }
      byte[] v = b.clone();
      v[0] = 3;
      expectMalformed(e.getValue(), v, "version", failures);
      byte[] t = b.clone();
      t[1] ^= 0x40;
      expectMalformed(e.getValue(), t, "type", failures);
    }
    assertEquals(List.of(), failures);
  }

  private static void expectMalformed(Decoder d, byte[] b, String what, List<String> failures) {
    try {
      d.decode(b);
      failures.add(what + " accepted");
    } catch (ProtocolException e) {
      if (e.code() != ErrorCode.MALFORMED) {
        failures.add(what + " gave " + e.code());
      }
    }
  }

  @Test
  void generation_zeroIsVersion1_othersVersion2_andVersion2WithGenerationZeroIsMalformed()
      throws Exception {
    Btid g0 = new Btid(Role.UE, A, n(16, 1), 5, 1, 2, n(32, 2));
    assertEquals(Wire.VERSION, g0.encode()[0]);
    assertEquals(0, Btid.decode(g0.encode()).generation());
    Btid g7 = new Btid(Role.UE, A, n(16, 1), 5, 1, 2, n(32, 2), 7);
    assertEquals(Wire.VERSION_GENERATION, g7.encode()[0]);
    assertEquals(7, Btid.decode(g7.encode()).generation());
    assertEquals(2, Btid.decode(g7.encode()).btidMacVersion());
    assertEquals(g0.encode().length + 4, g7.encode().length);
    assertEquals(3, BootstrapRequest.decode(
        new BootstrapRequest(Role.UE, A, 1, n(16, 9), 7, n(32, 9), 3).encode()).generation());
    assertEquals(2, EnrolmentFile.decode(
        new EnrolmentFile(Role.UE, A, 3, n(65, 4), n(40, 21), 2).encode()).generation());
    // version 2 naming generation 0 is not the canonical encoding
    byte[] zero = g7.encode();
    int at = 2 + 1 + 2 + A.length() + 16 + 8 + 4;
    zero[at] = zero[at + 1] = zero[at + 2] = zero[at + 3] = 0;
    assertEquals(ErrorCode.MALFORMED,
        assertThrows(ProtocolException.class, () -> Btid.decode(zero)).code());
    // above the maximum
    byte[] big = g7.encode();
    big[at] = (byte) 0x80;
    assertEquals(ErrorCode.MALFORMED,
        assertThrows(ProtocolException.class, () -> Btid.decode(big)).code());
    assertThrows(IllegalArgumentException.class,
        () -> new Btid(Role.UE, A, n(16, 1), 5, 1, 2, n(32, 2), -1).encode());
  }

  @Test
  void credContext_generationZeroIsTheOriginal_othersDifferAndAreDistinct() {
    assertArrayEquals(Contexts.cred(Role.UE, A), Contexts.cred(Role.UE, A, 0));
    assertFalse(Arrays.equals(Contexts.cred(Role.UE, A), Contexts.cred(Role.UE, A, 1)));
    assertFalse(Arrays.equals(Contexts.cred(Role.UE, A, 1), Contexts.cred(Role.UE, A, 2)));
    assertFalse(Arrays.equals(Contexts.cred(Role.UE, A, 1), Contexts.cred(Role.MAILBOX, A, 1)));
  }

  @Test
  void roundTrip_keepsEveryField() throws Exception {
    Ticket t = Ticket.decode(new Ticket(A, B, M, n(32, 5), 6, 7, 8, n(40, 6)).encode());
    assertEquals(List.of(A, B, M), List.of(t.idA(), t.idB(), t.idBm()));
    assertEquals(6, t.notAfterMs());
    assertEquals(7, t.ticketRootVersion());
    assertEquals(8, t.mediaRootVersion());
    UeADelivery d = UeADelivery.decode(new UeADelivery(n(40, 7), null).encode());
    assertNull(d.wrappedKe2m());
    MailboxKeyRequest r = MailboxKeyRequest.decode(
        new MailboxKeyRequest(true, M, n(3, 1), n(4, 2), n(12, 3), n(17, 4)).encode());
    assertEquals(true, r.wantE2m());
    Btid b = Btid.fromText(new Btid(Role.UE, A, n(16, 1), 5, 1, 2, n(32, 2)).toText());
    assertEquals(A, b.id());
    assertFalse(new Btid(Role.UE, A, n(16, 1), 5, 1, 2, n(32, 2)).toText().contains("="));
  }

  @Test
  void unknownFlagBits_versionZero_andNonNormalIdentities_areMalformed() {
    byte[] d = new UeADelivery(n(40, 7), null).encode();
    d[2] = 0x02;
    assertEquals(ErrorCode.MALFORMED,
        assertThrows(ProtocolException.class, () -> UeADelivery.decode(d)).code());
    byte[] t = new Ticket(A, B, M, n(32, 5), 6, 1, 1, n(40, 6)).encode();
    int versionAt = t.length - 40 - 8;
    Arrays.fill(t, versionAt, versionAt + 4, (byte) 0);
    assertThrows(ProtocolException.class, () -> Ticket.decode(t));
    byte[] upper = new IdPairSecret(A, B, n(16, 1), 1).encode();
    upper[2 + 4] = 'A'; // "sip:Alice..." is normal (user part); make the host upper-case instead
    upper[2 + A.indexOf('@') + 1] = 'I';
    assertThrows(ProtocolException.class, () -> IdPairSecret.decode(upper));
  }

  @Test
  void lengthPrefixAboveTheFieldMaximum_isMalformed() {
    byte[] msg = new byte[2 + 2 + Wire.MAX_BTID + 1 + 32];
    msg[0] = 1;
    msg[1] = Wire.T_BOOTSTRAP_RESPONSE;
    msg[2] = (byte) ((Wire.MAX_BTID + 1) >> 8);
    msg[3] = (byte) (Wire.MAX_BTID + 1);
    assertEquals(ErrorCode.MALFORMED,
        assertThrows(ProtocolException.class, () -> BootstrapResponse.decode(msg)).code());
  }

  @Test
  void contexts_areInjective_labelThenZeroThenLengthPrefixedFields() {
    assertArrayEquals(new byte[] {'a', 0, 0, 2, 'b', 'c'}, Contexts.of("a", new byte[] {'b', 'c'}));
    assertFalse(Arrays.equals(Contexts.of("x", "ab".getBytes(), "c".getBytes()),
        Contexts.of("x", "a".getBytes(), "bc".getBytes())));
    // One label is a prefix of another: the zero byte after the label keeps them apart.
    assertFalse(Arrays.equals(Contexts.of(Labels.MEDIA), Contexts.of(Labels.MEDIA_CHUNKS)));
    assertFalse(Arrays.equals(Contexts.request(Wire.T_OFFER),
        Contexts.request(Wire.T_MAILBOX_KEY_REQUEST)));
  }

  @Test
  void errorCodeNumbers_areStable() {
    int i = 1;
    for (ErrorCode c : ErrorCode.values()) {
      assertEquals(i++, c.number(), c.name());
    }
    assertEquals(ErrorCode.MALFORMED, ErrorCode.ofNumber(99));
  }

  @Test
  void p256_acceptsTheGenerator_refusesOtherPoints() throws Exception {
    byte[] g = java.util.HexFormat.of().parseHex("04"
        + "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
        + "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    P256.requireOnCurve(g);
    byte[] bad = g.clone();
    bad[64] ^= 1;
    assertThrows(ProtocolException.class, () -> P256.requireOnCurve(bad));
    byte[] compressed = g.clone();
    compressed[0] = 2;
    assertThrows(ProtocolException.class, () -> P256.requireOnCurve(compressed));
  }
}
