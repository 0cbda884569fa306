package io.imskms.protocol;

/**
 * Figure 17 step 4, mailbox → KMS. aad = version ‖ type ‖ flags ‖ ID-Bm ‖ btidM(u16) ‖
 * offer(u16, verbatim from UE-A); then IV(12) ‖ Em(u16), Em = AES-GCM under KDF(Km,
 * request(0x12)) of {@link IdPairSecret}(ID-A, ID-Bm, nonceM, tsM) with that aad. flags bit 0 asks
 * for Ke2m (Figure 19).
 */
public record MailboxKeyRequest(boolean wantE2m, String idBm, byte[] btidM, byte[] offer,
    byte[] iv, byte[] ciphertext) {

  public byte[] aad() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_MAILBOX_KEY_REQUEST)
        .u8(wantE2m ? Wire.FLAG_E2M : 0).identity(idBm).var(btidM, Wire.MAX_BTID)
        .var(offer, Wire.MAX_OFFER).toByteArray();
  }

  public byte[] encode() {
    return new WireWriter().raw(aad()).fixed(iv, Wire.IV_LEN).var(ciphertext, Wire.MAX_CIPHERTEXT)
        .toByteArray();
  }

  public static MailboxKeyRequest decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_MAILBOX_KEY_REQUEST);
    int flags = Wire.flags(r);
    String idBm = r.identity();
    byte[] btid = r.var(1, Wire.MAX_BTID);
    byte[] offer = r.var(1, Wire.MAX_OFFER);
    byte[] iv = r.fixed(Wire.IV_LEN);
    byte[] ct = r.var(Wire.GCM_TAG_LEN + 1, Wire.MAX_CIPHERTEXT);
    r.end();
    return new MailboxKeyRequest((flags & Wire.FLAG_E2M) != 0, idBm, btid, offer, iv, ct);
  }
}
