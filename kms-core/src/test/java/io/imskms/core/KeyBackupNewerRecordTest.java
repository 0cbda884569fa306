package io.imskms.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.keys.KeyBackup;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.principals.PrincipalRegistry;
import io.imskms.hsm.KeyCeremony;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.Pkcs11KeyCeremony;
import io.imskms.hsm.SoftHsmTestToken;
import java.security.SecureRandom;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A backup restored onto a token whose principal record has moved on since the export (a
 * revocation made after it): {@link KeyBackup#writeRecords} keeps the token's newer record, so
 * the later revocation is not undone by the older file.
 */
class KeyBackupNewerRecordTest {
  private static final String LATER = "sip:revoked-after-the-backup@ims.example.com";

  @Test
  void restoreOntoATokenWithANewerPrincipalRecord_keepsTheTokensRecord() throws Exception {
    SecureRandom random = new SecureRandom();
    byte[] c1 = new byte[32];
    byte[] c2 = new byte[32];
    random.nextBytes(c1);
    random.nextBytes(c2);
    try (SoftHsmTestToken token = SoftHsmTestToken.create()) {
      long fileSequence;
      try (Pkcs11Hsm hsm = token.open(b -> b.backupCapableKeys(true))) {
        KeyRing.ensureProvisioned(hsm);
        PrincipalRegistry operator = PrincipalRegistry.load(hsm);
        operator.revoke(KmsFixture.CAROL, "lost device");
        fileSequence = operator.record().sequence();
      }
      byte[] file;
      try (KeyCeremony ex = Pkcs11KeyCeremony.open(token.config().build(),
          KeyCeremony.Purpose.EXPORT, token.soPinForTest())) {
        List<String> kcvs = List.of(ex.addComponent(c1), ex.addComponent(c2));
        String kek = ex.assemble();
        try (Pkcs11Hsm hsm = token.open()) {
          file = KeyBackup.export(hsm, ex, token.label(), kcvs, kek).bytes();
        }
      }
      long tokenSequence;
      try (Pkcs11Hsm hsm = token.open()) {
        PrincipalRegistry operator = PrincipalRegistry.load(hsm);
        operator.revoke(LATER, "stolen");
        tokenSequence = operator.record().sequence();
      }
      assertTrue(tokenSequence > fileSequence);

      KeyBackup.Plan plan;
      try (KeyCeremony im = Pkcs11KeyCeremony.open(token.config().build(),
          KeyCeremony.Purpose.IMPORT, null)) {
        im.addComponent(c1);
        im.addComponent(c2);
        im.assemble();
        KeyBackup.File f = KeyBackup.parse(file);
        KeyBackup.verify(f, im);
        plan = KeyBackup.plan(f, im);
        assertEquals(0, plan.toRestore().size(), "the same keys are in the token");
        KeyBackup.restore(plan, im, false);
      }
      try (Pkcs11Hsm hsm = token.open()) {
        assertEquals(List.of(PrincipalRegistry.OBJECT_LABEL + ": the token's record (sequence "
            + tokenSequence + ") kept; the file's is sequence " + fileSequence),
            KeyBackup.writeRecords(hsm, plan));
        PrincipalRegistry after = PrincipalRegistry.load(hsm);
        assertEquals(tokenSequence, after.record().sequence());
        assertTrue(after.revoked(LATER), "the revocation made after the backup stays");
        assertTrue(after.revoked(KmsFixture.CAROL));
      }
    }
  }
}
