package io.imskms.protocol;

/**
 * Ea(Ra, K) of Figure 17 step 6 (and Ke2m under Ka, Figure 19), relayed by the mailbox to UE-A:
 * version ‖ type ‖ flags ‖ KW(KEK_A, K)(40) [‖ KW(KEK_e2mA, Ke2m)(40) when flags bit 0].
 * KEK_A = KDF(Ka, respA(Ra, nonceA, ID-A, ID-B)); KEK_e2mA = KDF(Ka, e2mA(nonceA, ID-A, ID-Bm)).
 * Two KEKs so the mailbox, which learns Ke2m, cannot pass Ke2m's blob off as K.
 */
public record UeADelivery(byte[] wrappedK, byte[] wrappedKe2m) {

  public byte[] encode() {
    WireWriter w = new WireWriter().u8(Wire.VERSION).u8(Wire.T_UE_A_DELIVERY)
        .u8(wrappedKe2m != null ? Wire.FLAG_E2M : 0).fixed(wrappedK, Wire.WRAPPED_KEY_LEN);
    if (wrappedKe2m != null) {
      w.fixed(wrappedKe2m, Wire.WRAPPED_KEY_LEN);
    }
    return w.toByteArray();
  }

  public static UeADelivery decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_UE_A_DELIVERY);
    int flags = Wire.flags(r);
    byte[] k = r.fixed(Wire.WRAPPED_KEY_LEN);
    byte[] e = (flags & Wire.FLAG_E2M) != 0 ? r.fixed(Wire.WRAPPED_KEY_LEN) : null;
    r.end();
    return new UeADelivery(k, e);
  }
}
