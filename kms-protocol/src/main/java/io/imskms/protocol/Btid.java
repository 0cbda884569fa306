package io.imskms.protocol;

import java.util.Base64;

/**
 * Bootstrapping transaction identifier: {@code body ‖ tag}, tag = HMAC-SHA-256(kms-btid-mac_v,
 * body). body = version ‖ type ‖ role ‖ ID ‖ RAND(16) ‖ notAfter(u64 ms) ‖ credVersion(u32) ‖
 * [generation(u32), version 2 only] ‖ btidMacVersion(u32). Carries everything the KMS needs to
 * re-derive the session key, so the KMS keeps no state. A credential of generation 0 (never
 * re-enrolled) gives a version-1 B-TID, byte for byte the format from before generations
 * existed. Its text form (SIP headers, JSON) is base64url without padding.
 */
public record Btid(Role role, String id, byte[] rand, long notAfterMs, int credVersion,
    int btidMacVersion, byte[] tag, int generation) {

  /** A B-TID of a generation-0 credential. */
  public Btid(Role role, String id, byte[] rand, long notAfterMs, int credVersion,
      int btidMacVersion, byte[] tag) {
    this(role, id, rand, notAfterMs, credVersion, btidMacVersion, tag, 0);
  }

  public byte[] body() {
    WireWriter w = Wire.generationHeader(Wire.T_BTID, generation).u8(role.code()).identity(id)
        .fixed(rand, Wire.RAND_LEN).u64(notAfterMs).u32(credVersion);
    return Wire.generation(w, generation).u32(btidMacVersion).toByteArray();
  }

  public byte[] encode() {
    return new WireWriter().raw(body()).fixed(tag, Wire.MAC_LEN).toByteArray();
  }

  public String toText() {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(encode());
  }

  public static Btid decode(byte[] b) throws ProtocolException {
    if (b == null || b.length > Wire.MAX_BTID) {
      throw ProtocolException.malformed("B-TID too long");
    }
    WireReader r = new WireReader(b);
    int version = Wire.generationHeader(r, Wire.T_BTID);
    Role role = Role.ofCode(r.u8());
    String id = r.identity();
    byte[] rand = r.fixed(Wire.RAND_LEN);
    long notAfter = r.u64();
    int cv = r.version();
    int generation = Wire.generation(r, version);
    int mv = r.version();
    byte[] tag = r.fixed(Wire.MAC_LEN);
    r.end();
    return new Btid(role, id, rand, notAfter, cv, mv, tag, generation);
  }

  /**
   * The B-TID of its text form. Only the canonical form is accepted: unpadded base64url whose
   * unused trailing bits are zero, so one B-TID has exactly one text form.
   */
  public static Btid fromText(String text) throws ProtocolException {
    byte[] b;
    try {
      b = Base64.getUrlDecoder().decode(text);
    } catch (IllegalArgumentException | NullPointerException e) {
      throw ProtocolException.malformed("B-TID is not base64url");
    }
    if (!Base64.getUrlEncoder().withoutPadding().encodeToString(b).equals(text)) {
      throw ProtocolException.malformed("B-TID text is not canonical unpadded base64url");
    }
    return decode(b);
  }
}
