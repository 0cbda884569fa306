package io.imskms.protocol;

/**
 * Ekms(Ka): header ‖ KW(KEK_t, Ka)(40), KEK_t = KDF(kms-ticket-root_v, ticketKek(header)).
 * header = version ‖ type ‖ ID-A ‖ ID-B ‖ ID-Bm ‖ SHA-256(offer)(32) ‖ notAfter(u64 ms) ‖
 * ticketRootVersion(u32) ‖ mediaRootVersion(u32). The header is in clear (the mailbox may read
 * it) and bound to the wrapped key: a changed header gives another KEK and the unwrap fails.
 */
public record Ticket(String idA, String idB, String idBm, byte[] offerHash, long notAfterMs,
    int ticketRootVersion, int mediaRootVersion, byte[] wrappedKa) {

  public byte[] header() {
    return new WireWriter().u8(Wire.VERSION).u8(Wire.T_TICKET).identity(idA).identity(idB)
        .identity(idBm).fixed(offerHash, Wire.HASH_LEN).u64(notAfterMs).u32(ticketRootVersion)
        .u32(mediaRootVersion).toByteArray();
  }

  public byte[] encode() {
    return new WireWriter().raw(header()).fixed(wrappedKa, Wire.WRAPPED_KEY_LEN).toByteArray();
  }

  public static Ticket decode(byte[] b) throws ProtocolException {
    if (b == null || b.length > Wire.MAX_TICKET) {
      throw ProtocolException.malformed("ticket too long");
    }
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_TICKET);
    String a = r.identity();
    String bb = r.identity();
    String m = r.identity();
    byte[] h = r.fixed(Wire.HASH_LEN);
    long na = r.u64();
    int tv = r.version();
    int mv = r.version();
    byte[] w = r.fixed(Wire.WRAPPED_KEY_LEN);
    r.end();
    return new Ticket(a, bb, m, h, na, tv, mv, w);
  }
}
