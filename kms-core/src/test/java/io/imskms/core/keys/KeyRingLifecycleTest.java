package io.imskms.core.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmMisconfigurationException;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.hsm.LongTermKeyInfo;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.hsm.TokenSetup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * One token through its life: empty, partly provisioned, provisioned, restarted with the
 * manifest's key check values, confronted with a swapped token, and finally polluted with a key
 * of the wrong type. The steps build on each other, so their order is explicit.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KeyRingLifecycleTest {
  private static SoftHsmTestToken token;
  private static Hsm hsm;
  private static KeyRing provisioned;
  private static Path manifest;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open();
    manifest = Files.createTempDirectory("keyring-lifecycle").resolve("keys.json");
  }

  @AfterAll
  static void tearDown() {
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  private static Map<String, String> kcvs(KeyRing ring) {
    return ring.describe().stream().collect(Collectors.toMap(
        k -> k.purpose().id(k.version()), KeyVersionInfo::kcv));
  }

  @Test
  @Order(1)
  void load_onATokenWithoutKeys_isMisconfigurationNamingEveryMissingPurpose() {
    HsmMisconfigurationException e = assertThrows(HsmMisconfigurationException.class,
        () -> KeyRing.load(hsm));
    for (KeyPurpose p : KeyPurpose.values()) {
      assertTrue(e.getMessage().contains(p.label()), e.getMessage());
    }
  }

  @Test
  @Order(2)
  void ensureProvisioned_onAPartialToken_generatesVersion1OfOnlyTheMissingPurposes()
      throws Exception {
    LongTermKeyInfo mac = hsm.generateLongTermKey("kms-btid-mac", 1,
        KeyPurpose.BTID_MAC.spec());
    LongTermKeyInfo ticket2 = hsm.generateLongTermKey("kms-ticket-root", 2,
        KeyPurpose.TICKET_ROOT.spec());
    assertThrows(HsmMisconfigurationException.class, () -> KeyRing.load(hsm));

    provisioned = KeyRing.ensureProvisioned(hsm);

    assertEquals(Map.of(
        "kms-cred-root#v1", kcvs(provisioned).get("kms-cred-root#v1"),
        "kms-btid-mac#v1", mac.kcv(),
        "kms-ticket-root#v2", ticket2.kcv(),
        "kms-media-root#v1", kcvs(provisioned).get("kms-media-root#v1")), kcvs(provisioned));
    assertEquals(2, provisioned.activeVersion(KeyPurpose.TICKET_ROOT));
    for (LongTermKeyInfo k : hsm.listLongTermKeys()) {
      if (k.label().equals(KeyLifecycleStore.MAC_LABEL)) {
        continue; // the lifecycle record's MAC key, made with the record (KeyLifecycleTest)
      }
      assertEquals(KeyPurpose.ofLabel(k.label()).orElseThrow().spec(), k.spec(), k.toString());
    }
  }

  @Test
  @Order(3)
  void ensureProvisioned_onAProvisionedToken_generatesNothing() throws Exception {
    List<KeyVersionInfo> before = provisioned.describe();
    KeyRing again = KeyRing.ensureProvisioned(hsm);
    assertEquals(kcvs(provisioned), kcvs(again));
    assertEquals(before.size() + 1, hsm.listLongTermKeys().size(),
        "the four purposes' keys and the lifecycle record's MAC key");
  }

  @Test
  @Order(4)
  void manifest_asExpectedKcvs_letsTheSameTokenOpenAgain() throws Exception {
    provisioned.writeManifest(manifest);
    KeyManifest m = KeyManifest.read(manifest);
    assertEquals(kcvs(provisioned), m.expectedKcvs());
    assertTrue(m.entries().stream().filter(e -> e.id().equals("kms-cred-root#v1"))
        .allMatch(e -> e.created().isPresent()), "made by this ring: creation time known");
    assertTrue(m.entries().stream().filter(e -> e.id().equals("kms-btid-mac#v1"))
        .allMatch(e -> e.created().isEmpty()), "found in the token: creation time unknown");

    hsm.close();
    hsm = token.open(b -> b.expectedKcvs(m.expectedKcvs()));
    assertEquals(kcvs(provisioned), kcvs(KeyRing.load(hsm)));
  }

  @Test
  @Order(5)
  void swappedToken_withTheSameLabels_isRefusedAtOpen_andItsKeysDoNotOverwriteTheManifest()
      throws Exception {
    Map<String, String> recorded = KeyManifest.read(manifest).expectedKcvs();
    hsm.close();
    hsm = null;
    try {
      swapTokenAndCheck(recorded);
    } finally {
      hsm = token.open(b -> b.expectedKcvs(recorded));
    }
    assertEquals(recorded, kcvs(KeyRing.load(hsm)));
  }

  private static void swapTokenAndCheck(Map<String, String> recorded) throws Exception {
    // A full 32-character label: TokenSetup passes the label to C_InitToken unpadded, and
    // SoftHSM2 reads 32 bytes.
    String otherLabel = (token.label() + "-swapped-token-label-padding-xx").substring(0, 32);
    char[] pin = "swapped-token-pin".toCharArray();
    TokenSetup.ensureToken(token.module(), otherLabel, "swapped-so-pin".toCharArray(), pin);
    String before = Files.readString(manifest);

    try (Pkcs11Hsm other = Pkcs11Hsm.open(token.config().tokenLabel(otherLabel).userPin(pin)
        .build())) {
      for (KeyManifest.Entry k : KeyManifest.read(manifest).entries()) {
        other.generateLongTermKey(k.label(), k.version(), k.purpose().spec());
      }
      KeyRing impostor = KeyRing.load(other);
      assertEquals(recorded.keySet(), kcvs(impostor).keySet(), "same labels and versions");
      KeyManifestException e = assertThrows(KeyManifestException.class,
          () -> impostor.writeManifest(manifest));
      assertTrue(e.getMessage().contains("different token"), e.getMessage());
    }
    assertEquals(before, Files.readString(manifest));

    HsmException e = assertThrows(HsmException.class, () -> Pkcs11Hsm.open(token.config()
        .tokenLabel(otherLabel).userPin(pin).expectedKcvs(recorded).build()));
    assertEquals(HsmException.Kind.MISCONFIGURATION, e.kind(), e.getMessage());
    assertTrue(e.getMessage().contains("wrong token"), e.getMessage());
  }

  @Test
  @Order(6)
  void load_withAKeyOfTheWrongTypeUnderAPurposeLabel_isMisconfiguration() throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    hsm.generateLongTermKey("kms-media-root", 2,
        KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN, KeyUsage.VERIFY));

    HsmMisconfigurationException e = assertThrows(HsmMisconfigurationException.class,
        () -> KeyRing.load(hsm));
    assertTrue(e.getMessage().contains("kms-media-root#v2"), e.getMessage());
    assertThrows(HsmMisconfigurationException.class, () -> KeyRing.ensureProvisioned(hsm));
    assertThrows(HsmMisconfigurationException.class, ring::refresh);
    assertEquals(1, ring.activeVersion(KeyPurpose.MEDIA_ROOT), "a failed refresh changes nothing");
    assertThrows(HsmMisconfigurationException.class, () -> ring.rotate(KeyPurpose.MEDIA_ROOT));
  }
}
