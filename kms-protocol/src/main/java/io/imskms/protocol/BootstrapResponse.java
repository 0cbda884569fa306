package io.imskms.protocol;

/**
 * Bootstrap response: version ‖ type ‖ btid(u16-prefixed) ‖ autn(32), autn =
 * HMAC-SHA-256(Kauth, {@link Contexts#autn}(request nonce, btid)): proves the answer comes from a
 * KMS that could derive Kp, and that it answers this request.
 */
public record BootstrapResponse(byte[] btid, byte[] autn) {

  public byte[] encode() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_BOOTSTRAP_RESPONSE)
        .var(btid, Wire.MAX_BTID).fixed(autn, Wire.MAC_LEN).toByteArray();
  }

  public static BootstrapResponse decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_BOOTSTRAP_RESPONSE);
    byte[] btid = r.var(1, Wire.MAX_BTID);
    byte[] autn = r.fixed(Wire.MAC_LEN);
    r.end();
    return new BootstrapResponse(btid, autn);
  }
}
