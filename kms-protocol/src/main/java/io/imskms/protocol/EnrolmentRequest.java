package io.imskms.protocol;

/**
 * Operator-authorised enrolment of a device: version ‖ type ‖ role ‖ ID ‖ devicePub(u16, an
 * uncompressed P-256 point, 65 bytes).
 */
public record EnrolmentRequest(Role role, String id, byte[] devicePublicKey) {

  public byte[] encode() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_ENROLMENT_REQUEST).u8(role.code())
        .identity(id).var(devicePublicKey, Wire.EC_POINT_LEN).toByteArray();
  }

  public static EnrolmentRequest decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_ENROLMENT_REQUEST);
    Role role = Role.ofCode(r.u8());
    String id = r.identity();
    byte[] pub = r.var(Wire.EC_POINT_LEN, Wire.EC_POINT_LEN);
    r.end();
    P256.requireOnCurve(pub);
    return new EnrolmentRequest(role, id, pub);
  }
}
