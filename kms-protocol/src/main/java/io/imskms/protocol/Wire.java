package io.imskms.protocol;

/** Message types, fixed lengths and size limits of docs/protocol.md. */
public final class Wire {
  private Wire() {}

  /** First byte of every message and structure. */
  public static final int VERSION = 1;
  /**
   * First byte of the B-TID, bootstrap request and enrolment file of a credential of generation
   * 1 or more (a re-enrolled principal): the same fields with {@code u32 generation} after
   * credVersion. Generation 0 is always written as {@link #VERSION} 1, so version 2 with
   * generation 0 is refused (one structure, one encoding).
   */
  public static final int VERSION_GENERATION = 2;
  /** Largest credential generation (docs/protocol.md §5.1). */
  public static final int MAX_GENERATION = 0x7fffffff;

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

  /**
   * Reads the header of a structure that exists in versions 1 and 2 (a credential generation);
   * returns the version.
   */
  static int generationHeader(WireReader r, int type) throws ProtocolException {
    int v = r.u8();
    if (v != VERSION && v != VERSION_GENERATION) {
      throw ProtocolException.malformed("wrong version");
    }
    r.expect(type, "message type");
    return v;
  }

  /** The generation field of a version-2 structure (1..MAX_GENERATION); 0 for version 1. */
  static int generation(WireReader r, int version) throws ProtocolException {
    if (version == VERSION) {
      return 0;
    }
    long g = r.u32();
    if (g < 1 || g > MAX_GENERATION) {
      throw ProtocolException.malformed("credential generation out of range");
    }
    return (int) g;
  }

  /** Writes the version byte and type, and returns the writer. */
  static WireWriter generationHeader(int type, int generation) {
    if (generation < 0) {
      throw new IllegalArgumentException("credential generation must not be negative");
    }
    return new WireWriter().u8(generation == 0 ? VERSION : VERSION_GENERATION).u8(type);
  }

  /** Writes the generation field if the structure is of version 2. */
  static WireWriter generation(WireWriter w, int generation) {
    return generation == 0 ? w : w.u32(generation);
  }

  static void header(WireReader r, int type) throws ProtocolException {
    r.expect(VERSION, "version");
    r.expect(type, "message type");
  }
}
