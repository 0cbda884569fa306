package io.imskms.client;

import io.imskms.protocol.Contexts;
import io.imskms.protocol.EnrolmentFile;
import io.imskms.protocol.EnrolmentRequest;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.util.Arrays;
import javax.crypto.KeyAgreement;

/**
 * The device side of enrolment: a P-256 key pair made on the device, a request carrying its public
 * key, and the opening of the credential file (ECDH with the KMS's ephemeral key, KEK derived from
 * the shared x-coordinate bound to both public keys, role and ID, then KW unwrap of Kp).
 */
public final class DeviceEnrolment {
  private final Role role;
  private final String id;
  private final KeyPair pair;
  private final byte[] publicPoint;

  public DeviceEnrolment(Role role, String id) throws ProtocolException {
    this.role = role;
    this.id = Identity.normalise(id);
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      this.pair = g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("P-256 missing from the JDK", e);
    }
    this.publicPoint = encodePoint((ECPublicKey) pair.getPublic());
  }

  public byte[] requestBytes() {
    return new EnrolmentRequest(role, id, publicPoint).encode();
  }

  public Credential open(byte[] fileBytes) throws ProtocolException {
    Responses.throwIfError(fileBytes);
    EnrolmentFile f = EnrolmentFile.decode(fileBytes);
    if (f.role() != role || !f.id().equals(id)) {
      throw new ProtocolException(ErrorCode.IDENTITY_MISMATCH, "credential for someone else");
    }
    SecretBytes z;
    try {
      ECParameterSpec params = ((ECPublicKey) pair.getPublic()).getParams();
      ECPublicKey eph = (ECPublicKey) KeyFactory.getInstance("EC")
          .generatePublic(new ECPublicKeySpec(decodePoint(f.ephemeralPublicKey()), params));
      KeyAgreement ka = KeyAgreement.getInstance("ECDH");
      ka.init(pair.getPrivate());
      ka.doPhase(eph, true);
      z = SecretBytes.adopt(ka.generateSecret());
    } catch (GeneralSecurityException e) {
      throw new ProtocolException(ErrorCode.MALFORMED, "ephemeral key is not a P-256 point");
    }
    SecretBytes kek = SoftwareCrypto.kdf256(z, Contexts.enrolKek(f.ephemeralPublicKey(),
        publicPoint, role, id));
    z.destroy();
    return new Credential(role, id, f.credVersion(), f.generation(),
        SoftwareCrypto.unwrap(kek, f.wrappedKp()));
  }

  /** A P-256 public key as the protocol carries it: 0x04 ‖ x ‖ y, 65 bytes. */
  public static byte[] encodePoint(ECPublicKey k) {
    byte[] out = new byte[65];
    out[0] = 4;
    copy32(k.getW().getAffineX(), out, 1);
    copy32(k.getW().getAffineY(), out, 33);
    return out;
  }

  private static void copy32(BigInteger v, byte[] out, int off) {
    byte[] b = v.toByteArray();
    int n = Math.min(b.length, 32);
    System.arraycopy(b, b.length - n, out, off + 32 - n, n);
  }

  /** The inverse of {@link #encodePoint}; MALFORMED unless 65 bytes starting 0x04. */
  public static ECPoint decodePoint(byte[] p) throws ProtocolException {
    if (p.length != 65 || p[0] != 4) {
      throw new ProtocolException(ErrorCode.MALFORMED, "not an uncompressed P-256 point");
    }
    return new ECPoint(new BigInteger(1, Arrays.copyOfRange(p, 1, 33)),
        new BigInteger(1, Arrays.copyOfRange(p, 33, 65)));
  }
}
