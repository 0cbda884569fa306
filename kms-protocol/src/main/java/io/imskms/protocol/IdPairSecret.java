package io.imskms.protocol;

/**
 * The plaintext of Em(ID-A, ID-Bm, nonceM, tsM) and Eb(ID-A, ID-B, nonceB, tsB):
 * first ‖ second ‖ nonce(16) ‖ timestamp(u64 ms).
 */
public record IdPairSecret(String first, String second, byte[] nonce, long timestampMs) {

  public byte[] encode() {
    return new WireWriter().identity(first).identity(second).fixed(nonce, Wire.NONCE_LEN)
        .u64(timestampMs).toByteArray();
  }

  public static IdPairSecret decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    String a = r.identity();
    String s = r.identity();
    byte[] n = r.fixed(Wire.NONCE_LEN);
    long ts = r.u64();
    r.end();
    return new IdPairSecret(a, s, n, ts);
  }
}
