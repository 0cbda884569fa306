package io.imskms.protocol;

/** Message types, fixed lengths and size limits of docs/protocol.md. */
public final class Wire {
  private Wire() {}

  /** First byte of every message and structure. */
  public static final int VERSION = 1;

  public static final int T_BOOTSTRAP_REQUEST = 0x01;
  public static final int T_BOOTSTRAP_RESPONSE = 0x02;
  public static final int T_BTID = 0x03;
  public static final int T_ENROLMENT_REQUEST = 0x04;
  public static final int T_ENROLMENT_FILE = 0x05;
  public static final int T_OFFER = 0x11;
  public static final int T_MAILBOX_KEY_REQUEST = 0x12;
  public static final int T_MAILBOX_KEY_RESPONSE = 0x13;
  public static final int T_UE_A_DELIVERY = 0x14;
  public static final int T_TICKET = 0x15;
  public static final int T_RETRIEVAL_REQUEST = 0x21;
  public static final int T_RETRIEVAL_RESPONSE = 0x22;
  public static final int T_ERROR = 0x7f;

  public static final int NONCE_LEN = 16;
  public static final int RAND_LEN = 16;
  public static final int RA_LEN = 32;
  public static final int IV_LEN = 12;
  public static final int GCM_TAG_LEN = 16;
  public static final int MAC_LEN = 32;
  public static final int HASH_LEN = 32;
  /** KW (RFC 3394) of a 256-bit key. */
  public static final int WRAPPED_KEY_LEN = 40;
  /** Uncompressed P-256 point: 0x04 ‖ X(32) ‖ Y(32). */
  public static final int EC_POINT_LEN = 65;

  public static final int MAX_BTID = 512;
  public static final int MAX_CIPHERTEXT = 1024;
  public static final int MAX_OFFER = 2048;
  public static final int MAX_TICKET = 1024;
  public static final int MAX_DELIVERY = 128;

  /** Flags byte, bit 0: Figure 19 (Ke2m) requested / present. */
  public static final int FLAG_E2M = 0x01;

  static int flags(WireReader r) throws ProtocolException {
    int f = r.u8();
    if ((f & ~FLAG_E2M) != 0) {
      throw ProtocolException.malformed("unknown flag bits");
    }
    return f;
  }

  static void header(WireReader r, int type) throws ProtocolException {
    r.expect(VERSION, "version");
    r.expect(type, "message type");
  }
}
