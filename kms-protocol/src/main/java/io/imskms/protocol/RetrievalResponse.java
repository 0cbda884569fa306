package io.imskms.protocol;

/**
 * Figure 18 step 6, KMS → UE-B: version ‖ type ‖ KW(KEK_B, K)(40), KEK_B = KDF(Kb,
 * respB(nonceB, ticket, ID-A, ID-B)).
 */
public record RetrievalResponse(byte[] wrappedK) {

  public byte[] encode() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_RETRIEVAL_RESPONSE)
        .fixed(wrappedK, Wire.WRAPPED_KEY_LEN).toByteArray();
  }

  public static RetrievalResponse decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_RETRIEVAL_RESPONSE);
    byte[] w = r.fixed(Wire.WRAPPED_KEY_LEN);
    r.end();
    return new RetrievalResponse(w);
  }
}
