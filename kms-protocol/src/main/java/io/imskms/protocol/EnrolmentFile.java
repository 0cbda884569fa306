package io.imskms.protocol;

/**
 * The credential file for a device: version ‖ type ‖ role ‖ ID ‖ credVersion(u32) ‖
 * [generation(u32), version 2 only] ‖ ephPub(u16, 65) ‖ KW(KEK, Kp)(40), KEK = KDF(Z,
 * enrolKek(ephPub, devicePub, role, ID)), Z the x-coordinate of ECDH(eph, device) used as an
 * AES-256 key. Version 1 is a generation-0 credential.
 */
public record EnrolmentFile(Role role, String id, int credVersion, byte[] ephemeralPublicKey,
    byte[] wrappedKp, int generation) {

  /** The file of a generation-0 credential. */
  public EnrolmentFile(Role role, String id, int credVersion, byte[] ephemeralPublicKey,
      byte[] wrappedKp) {
    this(role, id, credVersion, ephemeralPublicKey, wrappedKp, 0);
  }

  public byte[] encode() {
    WireWriter w = Wire.generationHeader(Wire.T_ENROLMENT_FILE, generation).u8(role.code())
        .identity(id).u32(credVersion);
    return Wire.generation(w, generation).var(ephemeralPublicKey, Wire.EC_POINT_LEN)
        .fixed(wrappedKp, Wire.WRAPPED_KEY_LEN).toByteArray();
  }

  public static EnrolmentFile decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    int version = Wire.generationHeader(r, Wire.T_ENROLMENT_FILE);
    Role role = Role.ofCode(r.u8());
    String id = r.identity();
    int cv = r.version();
    int generation = Wire.generation(r, version);
    byte[] eph = r.var(Wire.EC_POINT_LEN, Wire.EC_POINT_LEN);
    byte[] w = r.fixed(Wire.WRAPPED_KEY_LEN);
    r.end();
    return new EnrolmentFile(role, id, cv, eph, w, generation);
  }
}
