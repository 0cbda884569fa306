package io.imskms.protocol;

/** The two kinds of principal. The number is the role byte on the wire and in KDF contexts. */
public enum Role {
  UE(1),
  MAILBOX(2);

  private final int code;

  Role(int code) {
    this.code = code;
  }

  public int code() {
    return code;
  }

  public static Role ofCode(int code) throws ProtocolException {
    for (Role r : values()) {
      if (r.code == code) {
        return r;
      }
    }
    throw ProtocolException.malformed("unknown role");
  }
}
