package io.imskms.hsm;

/** AES key wrapping modes. Both produce blobs byte-identical to JCE AESWrap / AESWrapPad. */
public enum WrapMode {
  /** RFC 3394 AES key wrap, CKM_AES_KEY_WRAP (0x2109). */
  KW,
  /** RFC 5649 AES key wrap with padding, CKM_AES_KEY_WRAP_PAD (0x210A). */
  KWP
}
