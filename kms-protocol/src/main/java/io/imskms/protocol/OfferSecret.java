package io.imskms.protocol;

import java.util.Arrays;

/**
 * The plaintext of Ea: Ra(32) ‖ ID-A ‖ ID-B ‖ nonceA(16) ‖ tsA(u64 ms). Holds Ra: never printed.
 */
public final class OfferSecret {
  private final byte[] ra;
  private final String idA;
  private final String idB;
  private final byte[] nonce;
  private final long timestampMs;

  public OfferSecret(byte[] ra, String idA, String idB, byte[] nonce, long timestampMs) {
    if (ra == null || ra.length != Wire.RA_LEN || nonce == null || nonce.length != Wire.NONCE_LEN) {
      throw new IllegalArgumentException("Ra is 32 bytes and the nonce 16");
    }
    this.ra = ra.clone();
    this.idA = idA;
    this.idB = idB;
    this.nonce = nonce.clone();
    this.timestampMs = timestampMs;
  }

  public byte[] ra() {
    return ra.clone();
  }

  public String idA() {
    return idA;
  }

  public String idB() {
    return idB;
  }

  public byte[] nonce() {
    return nonce.clone();
  }

  public long timestampMs() {
    return timestampMs;
  }

  public byte[] encode() {
    return new WireWriter().fixed(ra, Wire.RA_LEN).identity(idA).identity(idB)
        .fixed(nonce, Wire.NONCE_LEN).u64(timestampMs).toByteArray();
  }

  public static OfferSecret decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    byte[] ra = r.fixed(Wire.RA_LEN);
    String a = r.identity();
    String bb = r.identity();
    byte[] n = r.fixed(Wire.NONCE_LEN);
    long ts = r.u64();
    r.end();
    OfferSecret s = new OfferSecret(ra, a, bb, n, ts);
    Arrays.fill(ra, (byte) 0);
    return s;
  }

  @Override
  public String toString() {
    return "OfferSecret[" + idA + " -> " + idB + "]";
  }
}
