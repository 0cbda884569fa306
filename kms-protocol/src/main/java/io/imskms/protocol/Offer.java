package io.imskms.protocol;

/**
 * What UE-A puts in its INVITE (Figure 17 step 2b): plain ID-A, ID-B, UE-A's B-TID, and
 * Ea(Ra, ID-A, ID-B, nonceA, tsA) = AES-GCM under KDF(Ka, request(0x11)) with AAD = header.
 * header = version ‖ type ‖ ID-A ‖ ID-B ‖ btidA(u16-prefixed); then IV(12) ‖ ct(u16-prefixed).
 * The mailbox stores it verbatim and forwards it in Figures 17 and 18.
 */
public record Offer(String idA, String idB, byte[] btidA, byte[] iv, byte[] ciphertext) {

  public byte[] header() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_OFFER).identity(idA).identity(idB)
        .var(btidA, Wire.MAX_BTID).toByteArray();
  }

  public byte[] encode() {
    return new WireWriter().raw(header()).fixed(iv, Wire.IV_LEN)
        .var(ciphertext, Wire.MAX_CIPHERTEXT).toByteArray();
  }

  public static Offer decode(byte[] b) throws ProtocolException {
    if (b == null || b.length > Wire.MAX_OFFER) {
      throw ProtocolException.malformed("offer too long");
    }
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_OFFER);
    String idA = r.identity();
    String idB = r.identity();
    byte[] btid = r.var(1, Wire.MAX_BTID);
    byte[] iv = r.fixed(Wire.IV_LEN);
    byte[] ct = r.var(Wire.GCM_TAG_LEN + 1, Wire.MAX_CIPHERTEXT);
    r.end();
    return new Offer(idA, idB, btid, iv, ct);
  }
}
