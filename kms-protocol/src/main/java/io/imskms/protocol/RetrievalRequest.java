package io.imskms.protocol;

/**
 * Figure 18 step 4, UE-B → KMS. aad = version ‖ type ‖ btidB(u16) ‖ offer(u16) ‖ ticket(u16);
 * then IV(12) ‖ Eb(u16), Eb = AES-GCM under KDF(Kb, request(0x21)) of
 * {@link IdPairSecret}(ID-A, ID-B, nonceB, tsB) with that aad.
 */
public record RetrievalRequest(byte[] btidB, byte[] offer, byte[] ticket, byte[] iv,
    byte[] ciphertext) {

  public byte[] aad() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_RETRIEVAL_REQUEST)
        .var(btidB, Wire.MAX_BTID).var(offer, Wire.MAX_OFFER).var(ticket, Wire.MAX_TICKET)
        .toByteArray();
  }

  public byte[] encode() {
    return new WireWriter().raw(aad()).fixed(iv, Wire.IV_LEN).var(ciphertext, Wire.MAX_CIPHERTEXT)
        .toByteArray();
  }

  public static RetrievalRequest decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_RETRIEVAL_REQUEST);
    byte[] btid = r.var(1, Wire.MAX_BTID);
    byte[] offer = r.var(1, Wire.MAX_OFFER);
    byte[] ticket = r.var(1, Wire.MAX_TICKET);
    byte[] iv = r.fixed(Wire.IV_LEN);
    byte[] ct = r.var(Wire.GCM_TAG_LEN + 1, Wire.MAX_CIPHERTEXT);
    r.end();
    return new RetrievalRequest(btid, offer, ticket, iv, ct);
  }
}
