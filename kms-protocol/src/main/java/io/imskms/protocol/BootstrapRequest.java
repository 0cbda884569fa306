package io.imskms.protocol;

/**
 * Bootstrap request (steps 1a/1b/1m): {@code body ‖ proof}, proof = HMAC-SHA-256(Kauth, body).
 * body = version ‖ type ‖ role ‖ ID ‖ credVersion(u32) ‖ nonce(16) ‖ timestamp(u64 ms).
 */
public record BootstrapRequest(Role role, String id, int credVersion, byte[] nonce,
    long timestampMs, byte[] proof) {

  public byte[] body() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_BOOTSTRAP_REQUEST).u8(role.code())
        .identity(id).u32(credVersion).fixed(nonce, Wire.NONCE_LEN).u64(timestampMs)
        .toByteArray();
  }

  public byte[] encode() {
    return new WireWriter().raw(body()).fixed(proof, Wire.MAC_LEN).toByteArray();
  }

  public static BootstrapRequest decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_BOOTSTRAP_REQUEST);
    Role role = Role.ofCode(r.u8());
    String id = r.identity();
    int cv = r.version();
    byte[] nonce = r.fixed(Wire.NONCE_LEN);
    long ts = r.u64();
    byte[] proof = r.fixed(Wire.MAC_LEN);
    r.end();
    return new BootstrapRequest(role, id, cv, nonce, ts, proof);
  }
}
