package io.imskms.protocol;

/**
 * The credential file for a device: version ‖ type ‖ role ‖ ID ‖ credVersion(u32) ‖
 * ephPub(u16, 65) ‖ KW(KEK, Kp)(40), KEK = KDF(Z, enrolKek(ephPub, devicePub, role, ID)), Z the
 * x-coordinate of ECDH(eph, device) used as an AES-256 key.
 */
public record EnrolmentFile(Role role, String id, int credVersion, byte[] ephemeralPublicKey,
    byte[] wrappedKp) {

  public byte[] encode() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_ENROLMENT_FILE).u8(role.code())
        .identity(id).u32(credVersion).var(ephemeralPublicKey, Wire.EC_POINT_LEN)
        .fixed(wrappedKp, Wire.WRAPPED_KEY_LEN).toByteArray();
  }

  public static EnrolmentFile decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_ENROLMENT_FILE);
    Role role = Role.ofCode(r.u8());
    String id = r.identity();
    int cv = r.version();
    byte[] eph = r.var(Wire.EC_POINT_LEN, Wire.EC_POINT_LEN);
    byte[] w = r.fixed(Wire.WRAPPED_KEY_LEN);
    r.end();
    return new EnrolmentFile(role, id, cv, eph, w);
  }
}
