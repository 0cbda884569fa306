package io.imskms.protocol;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The exact bytes fed to the KDF ({@code first L bytes of AES-ECB(key, SHA-256(context))}) and to
 * the MACs: {@code ASCII(label) ‖ 0x00 ‖ (u16 length ‖ bytes) for each field}. Labels contain no
 * zero byte and every field carries its length, so two different (label, fields) lists never give
 * the same context.
 */
public final class Contexts {
  private Contexts() {}

  /** The generic construction. */
  public static byte[] of(String label, byte[]... fields) {
    WireWriter w = new WireWriter();
    w.raw(label.getBytes(StandardCharsets.US_ASCII)).u8(0);
    for (byte[] f : fields) {
      w.var(f, 0xffff);
    }
    return w.toByteArray();
  }

  public static byte[] sha256(byte[] data) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(data);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 missing from the JDK", e);
    }
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] u8(int v) {
    return new byte[] {(byte) v};
  }

  /** Kp = KDF(cred-root_v, cred(role, ID)): a credential of generation 0. */
  public static byte[] cred(Role role, String id) {
    return of(Labels.CRED, u8(role.code()), utf8(id));
  }

  /**
   * Kp = KDF(cred-root_v, cred(role, ID, generation)): generation 0 is {@link #cred(Role,
   * String)} (the derivation of every credential enrolled before generations existed); a
   * re-enrolled principal's generation g ≥ 1 adds a third field {@code u32 g}, so each
   * re-enrolment gives an unrelated Kp.
   */
  public static byte[] cred(Role role, String id, int generation) {
    if (generation < 0) {
      throw new IllegalArgumentException("credential generation must not be negative");
    }
    if (generation == 0) {
      return cred(role, id);
    }
    byte[] g = new byte[] {(byte) (generation >>> 24), (byte) (generation >>> 16),
        (byte) (generation >>> 8), (byte) generation};
    return of(Labels.CRED, u8(role.code()), utf8(id), g);
  }

  /** Kauth = KDF(Kp, auth()) as an HMAC-SHA-256 key. */
  public static byte[] auth() {
    return of(Labels.AUTH);
  }

  /** MAC input of the KMS's bootstrap answer: HMAC(Kauth, autn(nonce, btid)). */
  public static byte[] autn(byte[] requestNonce, byte[] btid) {
    return of(Labels.AUTN, requestNonce, btid);
  }

  /** Ks (Ka, Kb, Km) = KDF(Kp, ks(btid body)). */
  public static byte[] sessionKey(byte[] btidBody) {
    return of(Labels.KS, sha256(btidBody));
  }

  /** Request subkey: KDF(Ks, request(type)) for the AES-GCM of the message of that type. */
  public static byte[] request(int messageType) {
    return of(Labels.REQ, u8(messageType));
  }

  /** K = KDF(media-root_v, media(Ra, ID-A, ID-B)). */
  public static byte[] media(byte[] ra, String idA, String idB) {
    return of(Labels.MEDIA, ra, utf8(idA), utf8(idB));
  }

  /** KEK_A = KDF(Ka, respA(...)): wraps K for UE-A, bound to Ra and UE-A's nonce. */
  public static byte[] respA(byte[] ra, byte[] nonceA, String idA, String idB) {
    return of(Labels.RESP_A, sha256(ra), nonceA, utf8(idA), utf8(idB));
  }

  /** HMAC key of the mailbox's answer: KDF(Km, respM(nonceM)). */
  public static byte[] respM(byte[] nonceM) {
    return of(Labels.RESP_M, nonceM);
  }

  /** KEK_B = KDF(Kb, respB(...)): wraps K for UE-B, bound to UE-B's nonce and the ticket. */
  public static byte[] respB(byte[] nonceB, byte[] ticket, String idA, String idB) {
    return of(Labels.RESP_B, nonceB, sha256(ticket), utf8(idA), utf8(idB));
  }

  /** KEK_t = KDF(Kkms_v, ticketKek(header)): any change to the header breaks the unwrap. */
  public static byte[] ticketKek(byte[] ticketHeader) {
    return of(Labels.TICKET_KEK, sha256(ticketHeader));
  }

  /** KEK wrapping Ke2m for UE-A: KDF(Ka, e2mA(...)). */
  public static byte[] e2mA(byte[] nonceA, String idA, String idBm) {
    return of(Labels.E2M_A, nonceA, utf8(idA), utf8(idBm));
  }

  /** KEK wrapping Ke2m for the mailbox: KDF(Km, e2mM(...)). */
  public static byte[] e2mM(byte[] nonceM, String idA, String idBm) {
    return of(Labels.E2M_M, nonceM, utf8(idA), utf8(idBm));
  }

  /** Enrolment transport KEK = KDF(Z, enrolKek(...)), Z the ECDH shared secret's x-coordinate. */
  public static byte[] enrolKek(byte[] ephPub, byte[] devicePub, Role role, String id) {
    return of(Labels.ENROL_KEK, ephPub, devicePub, u8(role.code()), utf8(id));
  }
}
