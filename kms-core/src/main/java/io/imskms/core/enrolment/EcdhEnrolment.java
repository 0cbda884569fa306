package io.imskms.core.enrolment;

import io.imskms.core.KmsException;
import io.imskms.core.LongTermKeys;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.principals.Principals;
import io.imskms.hsm.EcKeyPair;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.hsm.WrapMode;
import io.imskms.protocol.Contexts;
import io.imskms.protocol.EnrolmentFile;
import io.imskms.protocol.EnrolmentRequest;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import java.util.Objects;

/**
 * Enrolment by ECDH in the HSM (docs/protocol.md, "Enrolment"): an ephemeral P-256 key pair is
 * made in the HSM, Z = the x-coordinate of ECDH(eph, devicePub) becomes an AES-256 DERIVE session
 * key, KEK = KDF(Z, enrolKek(ephPub, devicePub, role, ID)), and the file carries KW(KEK, Kp) with
 * Kp derived wrappable for this one export.
 */
public final class EcdhEnrolment implements Enrolment {
  private static final KeySpec Z = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec KEK = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP);

  private final Hsm hsm;
  private final LongTermKeys keys;
  private final MailboxDirectory directory;
  private final Principals principals;

  /** Enrolment where every credential is of generation 0 and nobody is revoked. */
  public EcdhEnrolment(Hsm hsm, LongTermKeys keys, MailboxDirectory directory) {
    this(hsm, keys, directory, Principals.NONE);
  }

  /**
   * Enrolment at each principal's current generation ({@code principals}); a revoked principal
   * is refused with PRINCIPAL_REVOKED (reinstate it, or re-enrol it to a new generation).
   */
  public EcdhEnrolment(Hsm hsm, LongTermKeys keys, MailboxDirectory directory,
      Principals principals) {
    this.principals = Objects.requireNonNull(principals);
    this.hsm = Objects.requireNonNull(hsm);
    this.keys = Objects.requireNonNull(keys);
    this.directory = Objects.requireNonNull(directory);
  }

  @Override
  public byte[] enrol(byte[] requestBytes) throws KmsException {
    try (HsmSession s = hsm.openSession()) {
      EnrolmentRequest req = EnrolmentRequest.decode(requestBytes);
      if (req.role() == Role.MAILBOX ? !directory.isMailbox(req.id())
          : directory.isMailbox(req.id())) {
        throw new KmsException(ErrorCode.UNKNOWN_PRINCIPAL, "role does not match the directory");
      }
      if (principals.revoked(req.id())) {
        throw new KmsException(ErrorCode.PRINCIPAL_REVOKED, "principal revoked");
      }
      int generation = principals.generation(req.id());
      int credVersion = keys.activeVersion(KeyPurpose.CRED_ROOT);
      KeyRef kp = KmsBootstrapper.deriveKp(s, keys, req.role(), req.id(), credVersion,
          generation, true);
      EcKeyPair eph = s.generateEcKeyPair();
      KeyRef z = s.deriveEcdh(eph.privateKey(), req.devicePublicKey(), Z);
      KeyRef kek = s.deriveKey(z, Contexts.enrolKek(eph.publicPoint(), req.devicePublicKey(),
          req.role(), req.id()), KEK);
      byte[] wrapped = s.wrapKey(kek, kp, WrapMode.KW);
      return new EnrolmentFile(req.role(), req.id(), credVersion, eph.publicPoint(), wrapped,
          generation).encode();
    } catch (ProtocolException e) {
      throw KmsException.of(e);
    } catch (HsmException e) {
      throw KmsException.of(e);
    }
  }
}
