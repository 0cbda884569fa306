package io.imskms.bench;

import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.InsecureSecretAccess;
import io.imskms.client.SecretBytes;
import io.imskms.client.SoftwareCrypto;
import io.imskms.core.LongTermKeys;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.hsm.EcKeyPair;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.hsm.WrapMode;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.protocol.Role;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECPublicKeySpec;
import java.util.Arrays;
import javax.crypto.KeyAgreement;

/**
 * Many principals' credentials for the benchmark's own token, cheaply: Kp derived in the HSM
 * exactly as the KMS derives it (kms-core's {@link KmsBootstrapper#deriveKp}), wrapped with AES
 * key wrap under one transport key and unwrapped here. The transport key comes from one ECDH
 * exchange with an HSM ephemeral key, as in enrolment (so this JVM knows it and the token holds
 * it as a session object), but is shared by every principal: 3 HSM operations per principal
 * (derive, wrap, destroy) instead of the 5 and two P-256 key pairs of a real enrolment. Only for
 * filling a benchmark token; the KMS has no such path.
 *
 * <p>One thread: the HSM session belongs to the thread that made this object.
 */
final class CheapEnrolment implements AutoCloseable {
  private static final KeySpec Z = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec KEK = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP);
  private static final byte[] CONTEXT =
      "imskms-bench-transport-key-v1".getBytes(StandardCharsets.US_ASCII);

  private final LongTermKeys keys;
  private final HsmSession s;
  private final KeyRef kek;
  private final SecretBytes kekValue;
  private final int credVersion;

  CheapEnrolment(Hsm hsm, LongTermKeys keys) throws Exception {
    this.keys = keys;
    this.credVersion = keys.activeVersion(KeyPurpose.CRED_ROOT);
    this.s = hsm.openSession();
    try {
      EcKeyPair eph = s.generateEcKeyPair();
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      KeyPair mine = g.generateKeyPair();
      ECPublicKey pub = (ECPublicKey) mine.getPublic();
      KeyRef z = s.deriveEcdh(eph.privateKey(), DeviceEnrolment.encodePoint(pub), Z);
      kek = s.deriveKey(z, CONTEXT, KEK);
      s.destroy(z);
      ECPublicKey theirs = (ECPublicKey) KeyFactory.getInstance("EC").generatePublic(
          new ECPublicKeySpec(DeviceEnrolment.decodePoint(eph.publicPoint()), pub.getParams()));
      KeyAgreement ka = KeyAgreement.getInstance("ECDH");
      ka.init(mine.getPrivate());
      ka.doPhase(theirs, true);
      byte[] zBytes = ka.generateSecret();
      SecretBytes zValue = SecretBytes.copyOf(zBytes, InsecureSecretAccess.get());
      Arrays.fill(zBytes, (byte) 0);
      kekValue = SoftwareCrypto.kdf256(zValue, CONTEXT);
      zValue.destroy();
    } catch (Exception e) {
      s.close();
      throw e;
    }
  }

  /** A generation-0 UE credential for {@code id} (already in normal form). */
  Credential ue(String id) throws Exception {
    KeyRef kp = KmsBootstrapper.deriveKp(s, keys, Role.UE, id, credVersion, 0, true);
    byte[] wrapped;
    try {
      wrapped = s.wrapKey(kek, kp, WrapMode.KW);
    } finally {
      s.destroy(kp);
    }
    return new Credential(Role.UE, id, credVersion, 0, SoftwareCrypto.unwrap(kekValue, wrapped));
  }

  @Override
  public void close() {
    kekValue.destroy();
    s.close();
  }
}
