package io.imskms.protocol;

/**
 * Figure 17 step 6, KMS → mailbox: body = version ‖ type ‖ flags ‖ delivery(u16, the
 * {@link UeADelivery} for UE-A) ‖ ticket(u16) [‖ KW(KEK_e2mM, Ke2m)(40) when flags bit 0]; then
 * mac(32) = HMAC-SHA-256(KDF(Km, respM(nonceM)), body): bound to the mailbox's request nonce.
 */
public record MailboxKeyResponse(byte[] delivery, byte[] ticket, byte[] wrappedKe2m, byte[] mac) {

  public byte[] body() {
    WireWriter w = new WireWriter().u8(Wire.VERSION).u8(Wire.T_MAILBOX_KEY_RESPONSE)
        .u8(wrappedKe2m != null ? Wire.FLAG_E2M : 0).var(delivery, Wire.MAX_DELIVERY)
        .var(ticket, Wire.MAX_TICKET);
    if (wrappedKe2m != null) {
      w.fixed(wrappedKe2m, Wire.WRAPPED_KEY_LEN);
    }
    return w.toByteArray();
  }

  public byte[] encode() {
    return new WireWriter().raw(body()).fixed(mac, Wire.MAC_LEN).toByteArray();
  }

  public static MailboxKeyResponse decode(byte[] b) throws ProtocolException {
    WireReader r = new WireReader(b);
    Wire.header(r, Wire.T_MAILBOX_KEY_RESPONSE);
    int flags = Wire.flags(r);
    byte[] d = r.var(1, Wire.MAX_DELIVERY);
    byte[] t = r.var(1, Wire.MAX_TICKET);
    byte[] e = (flags & Wire.FLAG_E2M) != 0 ? r.fixed(Wire.WRAPPED_KEY_LEN) : null;
    byte[] mac = r.fixed(Wire.MAC_LEN);
    r.end();
    return new MailboxKeyResponse(d, t, e, mac);
  }
}
