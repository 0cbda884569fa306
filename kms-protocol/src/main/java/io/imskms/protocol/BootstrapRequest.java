package io.imskms.protocol;

/**
 * Bootstrap request (steps 1a/1b/1m): {@code body ‖ proof}, proof = HMAC-SHA-256(Kauth, body).
 * body = version ‖ type ‖ role ‖ ID ‖ credVersion(u32) ‖ [generation(u32), version 2 only] ‖
 * nonce(16) ‖ timestamp(u64 ms). Version 1 is a generation-0 credential.
 */
public record BootstrapRequest(Role role, String id, int credVersion, byte[] nonce,
    long timestampMs, byte[] proof, int generation) {

  /** A bootstrap request of a generation-0 credential. */
  public BootstrapRequest(Role role, String id, int credVersion, byte[] nonce, long timestampMs,
      byte[] proof) {
    this(role, id, credVersion, nonce, timestampMs, proof, 0);
  }

  public byte[] body() {
    WireWriter w = Wire.generationHeader(Wire.T_BOOTSTRAP_REQUEST, generation).u8(role.code())
        .identity(id).u32(credVersion);
    return Wire.generation(w, generation).fixed(nonce, Wire.NONCE_LEN).u64(timestampMs)
        .toByteArray();
  }

  public byte[] encode() {
    return new WireWriter().raw(body()).fixed(proof, Wire.MAC_LEN).toByteArray();
  }

  public static BootstrapRequest decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    int version = Wire.generationHeader(r, Wire.T_BOOTSTRAP_REQUEST);
    Role role = Role.ofCode(r.u8());
    String id = r.identity();
    int cv = r.version();
    int generation = Wire.generation(r, version);
    byte[] nonce = r.fixed(Wire.NONCE_LEN);
    long ts = r.u64();
    byte[] proof = r.fixed(Wire.MAC_LEN);
    r.end();
    return new BootstrapRequest(role, id, cv, nonce, ts, proof, generation);
  }
}
