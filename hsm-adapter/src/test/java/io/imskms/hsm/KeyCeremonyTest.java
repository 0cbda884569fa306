package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;

import java.security.SecureRandom;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The backup key ceremony against two real SoftHSM2 tokens: a KEK assembled in the HSM from
 * components, long-term keys wrapped out of one token under it (only when backup-capable) and
 * restored into the other with the same key check values; wrong components, altered blobs and
 * fewer than two components are refused.
 */
class KeyCeremonyTest {
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final KeySpec ROOT = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec MAC = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN,
      KeyUsage.VERIFY);
  private static SoftHsmTestToken source;
  private static SoftHsmTestToken target;
  private static byte[] c1;
  private static byte[] c2;
  private static String rootKcv;
  private static String macKcv;
  private static String fixedKcv;

  @BeforeAll
  static void setUp() throws Exception {
    source = SoftHsmTestToken.create();
    target = source.second();
    c1 = component();
    c2 = component();
    try (Pkcs11Hsm hsm = source.open(b -> b.backupCapableKeys(true))) {
      rootKcv = hsm.generateLongTermKey("bk-root", 1, ROOT).kcv();
      macKcv = hsm.generateLongTermKey("bk-mac", 1, MAC).kcv();
    }
    try (Pkcs11Hsm hsm = source.open()) {
      fixedKcv = hsm.generateLongTermKey("bk-fixed", 1, ROOT).kcv();
      assertTrue(hsm.listLongTermKeys().stream()
          .anyMatch(k -> k.label().equals("bk-root") && k.backupCapable()));
    }
  }

  @AfterAll
  static void tearDown() {
    source.close();
  }

  private static byte[] component() {
    byte[] c = new byte[KeyCeremony.COMPONENT_BYTES];
    RANDOM.nextBytes(c);
    return c;
  }

  private static KeyCeremony ceremony(SoftHsmTestToken t, KeyCeremony.Purpose p, byte[]... cs)
      throws HsmException {
    KeyCeremony c = Pkcs11KeyCeremony.open(t.config().build(), p,
        p == KeyCeremony.Purpose.EXPORT ? t.soPinForTest() : null);
    for (byte[] comp : cs) {
      c.addComponent(comp);
    }
    return c;
  }

  @Test
  void exportThenRestore_givesTheSameKeys_andTheRestoredKeysAreUsableOnlyWhenPinned()
      throws Exception {
    KeyCeremony.ExportedKey root;
    KeyCeremony.ExportedKey mac;
    String exportKcv;
    String c1Kcv;
    byte[] tag;
    byte[] data = "file body".getBytes();
    try (KeyCeremony ex = ceremony(source, KeyCeremony.Purpose.EXPORT)) {
      c1Kcv = ex.addComponent(c1);
      ex.addComponent(c2);
      exportKcv = ex.assemble();
      root = ex.exportLongTermKey("bk-root", 1);
      mac = ex.exportLongTermKey("bk-mac", 1);
      HsmPolicyException never = assertThrows(HsmPolicyException.class,
          () -> ex.exportLongTermKey("bk-fixed", 1));
      assertTrue(never.getMessage().contains("CKA_EXTRACTABLE=false"), never.getMessage());
      tag = ex.mac(data);
    }
    assertEquals(rootKcv, root.kcv());
    assertEquals(macKcv, mac.kcv());
    assertEquals(40, root.wrapped().length);
    assertEquals(ROOT, root.spec());
    assertEquals(MAC, mac.spec());

    try (KeyCeremony im = ceremony(target, KeyCeremony.Purpose.IMPORT)) {
      assertEquals(c1Kcv, im.addComponent(c1), "a component's KCV does not depend on the token");
      im.addComponent(c2);
      assertEquals(exportKcv, im.assemble());
      im.verifyMac(data, tag);
      assertThrows(HsmIntegrityException.class, () -> im.verifyMac("file bodY".getBytes(), tag));
      assertEquals(rootKcv, im.trialUnwrap(ROOT, root.wrapped()));
      byte[] bad = root.wrapped();
      bad[5] ^= 1;
      assertThrows(HsmIntegrityException.class, () -> im.trialUnwrap(ROOT, bad));
      assertTrue(im.tokenKeyKcv("bk-root", 1).isEmpty());
      im.restoreLongTermKey("bk-root", 1, ROOT, root.wrapped(), rootKcv, false);
      im.restoreLongTermKey("bk-mac", 1, MAC, mac.wrapped(), macKcv, true);
      assertEquals(rootKcv, im.tokenKeyKcv("bk-root", 1).orElseThrow());
      assertThrows(HsmPolicyException.class, () -> im.restoreLongTermKey("bk-root", 1, ROOT,
          root.wrapped(), rootKcv, false));
    }
    // Restored keys are not CKA_LOCAL: refused unless their KCV is pinned.
    try (Pkcs11Hsm hsm = target.open()) {
      HsmPolicyException e = assertThrows(HsmPolicyException.class,
          () -> hsm.findKey("bk-root", 1));
      assertTrue(e.getMessage().contains("not pinned"), e.getMessage());
      hsm.admitRestoredKeys(Map.of("bk-root#v1", rootKcv, "bk-mac#v1", macKcv));
      assertEquals(rootKcv, hsm.listLongTermKeys().stream()
          .filter(k -> k.label().equals("bk-root")).findFirst().orElseThrow().kcv());
      LongTermKeyInfo m = hsm.listLongTermKeys().stream()
          .filter(k -> k.label().equals("bk-mac")).findFirst().orElseThrow();
      assertTrue(m.restored() && m.backupCapable());
      // The restored MAC key MACs as the original did.
      try (HsmSession s = hsm.openSession()) {
        assertEquals(64, HexLen.of(s.sign(m.ref(), "x".getBytes())));
      }
    }
    try (Pkcs11Hsm hsm = target.open(b -> b.expectedKcvs(Map.of("bk-root#v1", "0000000000000000"))
        .poolSize(1))) {
      fail("a restored key with another KCV than the pinned one must be refused at open");
    } catch (HsmException expected) {
      assertTrue(expected.getMessage().contains("bk-root#v1"), expected.getMessage());
    }
  }

  @Test
  void wrongComponent_givesAnotherKek_andTheBlobDoesNotUnwrap() throws Exception {
    KeyCeremony.ExportedKey root;
    String exportKcv;
    try (KeyCeremony ex = ceremony(source, KeyCeremony.Purpose.EXPORT, c1, c2)) {
      exportKcv = ex.assemble();
      root = ex.exportLongTermKey("bk-root", 1);
    }
    byte[] wrong = c2.clone();
    wrong[31] ^= 0x01;
    try (KeyCeremony im = ceremony(target, KeyCeremony.Purpose.IMPORT, c1, wrong)) {
      assertNotEquals(exportKcv, im.assemble());
      assertThrows(HsmIntegrityException.class, () -> im.trialUnwrap(ROOT, root.wrapped()));
    }
    // Components in the other order are another KEK too.
    try (KeyCeremony im = ceremony(target, KeyCeremony.Purpose.IMPORT, c2, c1)) {
      assertNotEquals(exportKcv, im.assemble());
    }
  }

  @Test
  void fewerThanTwoComponents_orTheSameOneTwice_areRefused() throws Exception {
    try (KeyCeremony im = ceremony(target, KeyCeremony.Purpose.IMPORT, c1)) {
      HsmPolicyException e = assertThrows(HsmPolicyException.class, im::assemble);
      assertTrue(e.getMessage().contains("at least 2"), e.getMessage());
      assertThrows(HsmPolicyException.class, () -> im.addComponent(c1));
      assertThrows(HsmPolicyException.class, () -> im.addComponent(new byte[16]));
      assertThrows(HsmPolicyException.class, () -> im.exportLongTermKey("bk-root", 1));
    }
  }

  @Test
  void aUserMadeKek_cannotWrapABackupCapableKey() throws Exception {
    // An IMPORT ceremony's KEK is made in the user session: not trusted, and unwrap-only.
    try (KeyCeremony im = ceremony(source, KeyCeremony.Purpose.IMPORT, c1, c2)) {
      im.assemble();
      assertThrows(HsmPolicyException.class, () -> im.exportLongTermKey("bk-root", 1));
    }
  }

  @Test
  void exportWithoutTheSoPin_isRefused() {
    HsmPolicyException e = assertThrows(HsmPolicyException.class, () -> Pkcs11KeyCeremony.open(
        source.config().build(), KeyCeremony.Purpose.EXPORT, null));
    assertTrue(e.getMessage().contains("Security Officer"), e.getMessage());
  }

  /** Hex length of a tag, to keep the assertion about size only. */
  private static final class HexLen {
    static int of(byte[] b) {
      return java.util.HexFormat.of().formatHex(b).length();
    }
  }
}
