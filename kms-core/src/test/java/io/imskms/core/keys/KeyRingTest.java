package io.imskms.core.keys;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.hsm.LongTermKeyInfo;
import io.imskms.hsm.SoftHsmTestToken;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The key ring against a real SoftHSM2 token, provisioned once for the class. Each test loads its
 * own ring, so that rotations made by other tests (in any order) only add versions.
 */
class KeyRingTest {
  private static final KeySpec GCM = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.ENCRYPT,
      KeyUsage.DECRYPT);
  private static final byte[] IV = new byte[12];

  private static SoftHsmTestToken token;
  private static Hsm hsm;

  @TempDir
  Path dir;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open();
    KeyRing.ensureProvisioned(hsm);
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

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void active_keyOfEachPurpose_hasThePurposeLabelAndSpec_andWorksInTheHsm() throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    try (HsmSession s = hsm.openSession()) {
      for (KeyPurpose p : KeyPurpose.values()) {
        KeyRef k = ring.active(p);
        assertEquals(KeyRef.Kind.LONG_TERM, k.kind());
        assertEquals(p.label(), k.label());
        assertEquals(ring.activeVersion(p), k.version());
        assertEquals(p.spec(), k.spec());
        if (p.spec().allows(KeyUsage.DERIVE)) {
          KeyRef d = s.deriveKey(k, bytes("imskms/test/" + p), GCM);
          byte[] ct = s.encryptGcm(d, IV, null, bytes("x"));
          assertArrayEquals(bytes("x"), s.decryptGcm(d, IV, null, ct));
        } else {
          s.verify(k, bytes("data"), s.sign(k, bytes("data")));
        }
      }
    }
  }

  @Test
  void rotate_makesTheNextVersionActive_andTheOlderVersionStillDecrypts() throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    KeyPurpose p = KeyPurpose.MEDIA_ROOT;
    int before = ring.activeVersion(p);
    byte[] ct;
    try (HsmSession s = hsm.openSession()) {
      ct = s.encryptGcm(s.deriveKey(ring.active(p), bytes("ctx"), GCM), IV, null, bytes("m"));
    }
    KeyRef rotated = ring.rotate(p);
    assertEquals(before + 1, rotated.version());
    assertEquals(before + 1, ring.activeVersion(p));
    assertEquals(before + 1, ring.active(p).version());
    try (HsmSession s = hsm.openSession()) {
      KeyRef old = s.deriveKey(ring.version(p, before), bytes("ctx"), GCM);
      assertArrayEquals(bytes("m"), s.decryptGcm(old, IV, null, ct));
      KeyRef fresh = s.deriveKey(ring.active(p), bytes("ctx"), GCM);
      HsmException e = assertThrows(HsmException.class,
          () -> s.decryptGcm(fresh, IV, null, ct));
      assertEquals(HsmException.Kind.INTEGRITY, e.kind(), "a new version is a new key");
    }
    Map<Integer, String> kcvs = ring.describe().stream().filter(k -> k.purpose() == p)
        .collect(Collectors.toMap(KeyVersionInfo::version, KeyVersionInfo::kcv));
    assertNotEquals(kcvs.get(before), kcvs.get(before + 1));
  }

  @Test
  void rotate_macKey_tagsMadeWithTheOlderVersionStillVerify() throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    KeyPurpose p = KeyPurpose.BTID_MAC;
    int before = ring.activeVersion(p);
    byte[] tag;
    try (HsmSession s = hsm.openSession()) {
      tag = s.sign(ring.active(p), bytes("b-tid"));
    }
    ring.rotate(p);
    try (HsmSession s = hsm.openSession()) {
      s.verify(ring.version(p, before), bytes("b-tid"), tag);
      HsmException e = assertThrows(HsmException.class,
          () -> s.verify(ring.active(p), bytes("b-tid"), tag));
      assertEquals(HsmException.Kind.INTEGRITY, e.kind());
    }
  }

  @Test
  void version_notInTheToken_isUnknownKeyVersionException() throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    for (int v : new int[] {9999, 0, -1}) {
      UnknownKeyVersionException e = assertThrows(UnknownKeyVersionException.class,
          () -> ring.version(KeyPurpose.TICKET_ROOT, v));
      assertEquals(KeyPurpose.TICKET_ROOT, e.purpose());
      assertEquals(v, e.version());
      assertTrue(e.getMessage().contains("kms-ticket-root"), e.getMessage());
    }
  }

  @Test
  void load_activatesTheHighestVersion_unlessAnotherIsPinned() throws Exception {
    KeyRing.load(hsm).rotate(KeyPurpose.TICKET_ROOT);
    int highest = hsm.listLongTermKeys().stream()
        .filter(k -> k.label().equals("kms-ticket-root"))
        .mapToInt(LongTermKeyInfo::version).max().orElseThrow();
    assertTrue(highest >= 2);
    assertEquals(highest, KeyRing.load(hsm).activeVersion(KeyPurpose.TICKET_ROOT));

    KeyRing pinned = KeyRing.load(hsm, Map.of(KeyPurpose.TICKET_ROOT, 1));
    assertEquals(1, pinned.activeVersion(KeyPurpose.TICKET_ROOT));
    assertEquals(1, pinned.active(KeyPurpose.TICKET_ROOT).version());
    assertEquals(List.of(1), pinned.describe().stream()
        .filter(k -> k.purpose() == KeyPurpose.TICKET_ROOT && k.active())
        .map(KeyVersionInfo::version).collect(Collectors.toList()));
    assertEquals(highest, pinned.version(KeyPurpose.TICKET_ROOT, highest).version());
  }

  @Test
  void load_withPinnedVersionNotInTheToken_isUnknownKeyVersionException() {
    UnknownKeyVersionException e = assertThrows(UnknownKeyVersionException.class,
        () -> KeyRing.load(hsm, Map.of(KeyPurpose.CRED_ROOT, 4711)));
    assertEquals(4711, e.version());
  }

  @Test
  void rotate_ofAPinnedPurpose_activatesTheNewVersion() throws Exception {
    KeyRing pinned = KeyRing.load(hsm, Map.of(KeyPurpose.CRED_ROOT, 1));
    KeyRef rotated = pinned.rotate(KeyPurpose.CRED_ROOT);
    assertTrue(rotated.version() >= 2);
    assertEquals(rotated.version(), pinned.activeVersion(KeyPurpose.CRED_ROOT));
  }

  @Test
  void refresh_picksUpAVersionRotatedByAnotherRing() throws Exception {
    KeyRing server = KeyRing.load(hsm);
    KeyRing cli = KeyRing.load(hsm);
    int v = cli.rotate(KeyPurpose.MEDIA_ROOT).version();
    assertEquals(v - 1, server.activeVersion(KeyPurpose.MEDIA_ROOT));
    assertThrows(UnknownKeyVersionException.class,
        () -> server.version(KeyPurpose.MEDIA_ROOT, v));
    server.refresh();
    assertEquals(v, server.activeVersion(KeyPurpose.MEDIA_ROOT));
    assertEquals(v, server.version(KeyPurpose.MEDIA_ROOT, v).version());
  }

  @Test
  void describe_listsEveryVersionWithPurposeKcv_andExactlyOneActivePerPurpose()
      throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    List<KeyVersionInfo> all = ring.describe();
    Map<String, String> tokenKcvs = new HashMap<>();
    for (LongTermKeyInfo k : hsm.listLongTermKeys()) {
      if (KeyPurpose.ofLabel(k.label()).isPresent()) {
        tokenKcvs.put(k.label() + "#v" + k.version(), k.kcv());
      }
    }
    assertEquals(tokenKcvs, all.stream().collect(Collectors.toMap(
        k -> k.label() + "#v" + k.version(), KeyVersionInfo::kcv)));
    for (KeyPurpose p : KeyPurpose.values()) {
      List<KeyVersionInfo> mine = all.stream().filter(k -> k.purpose() == p)
          .collect(Collectors.toList());
      assertFalse(mine.isEmpty());
      assertEquals(1, mine.stream().filter(KeyVersionInfo::active).count());
      for (int i = 1; i < mine.size(); i++) {
        assertTrue(mine.get(i - 1).version() < mine.get(i).version(), "ascending versions");
      }
      for (KeyVersionInfo k : mine) {
        assertEquals(p.label(), k.label());
        assertTrue(k.kcv().matches("[0-9a-f]{16}"), k.kcv());
        assertEquals(k.active(), k.version() == ring.activeVersion(p));
      }
    }
  }

  @Test
  void load_ignoresKeysOfOtherApplicationsInTheToken() throws Exception {
    hsm.generateLongTermKey("other-app-root", 1,
        KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE));
    KeyRing ring = KeyRing.load(hsm);
    assertTrue(ring.describe().stream().noneMatch(k -> k.label().equals("other-app-root")));
  }

  @Test
  void writeManifest_recordsEveryKey_andReadsBackAsTheAdaptersExpectedKcvs() throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    Instant before = Instant.now().minusSeconds(1);
    KeyRef rotated = ring.rotate(KeyPurpose.CRED_ROOT);
    Path file = dir.resolve("keys.json");
    ring.writeManifest(file);

    KeyManifest m = KeyManifest.read(file);
    Map<String, String> expected = ring.describe().stream().collect(Collectors.toMap(
        k -> k.purpose().id(k.version()), KeyVersionInfo::kcv));
    assertEquals(expected, m.expectedKcvs());
    assertEquals(Optional.of(token.label()), m.token());
    KeyManifest.Entry made = m.entries().stream()
        .filter(e -> e.id().equals(KeyPurpose.CRED_ROOT.id(rotated.version())))
        .findFirst().orElseThrow();
    assertTrue(made.created().orElseThrow().isAfter(before), made.toString());
    KeyManifest.Entry found = m.entries().stream()
        .filter(e -> e.id().equals("kms-cred-root#v1")).findFirst().orElseThrow();
    assertEquals(Optional.empty(), found.created(), "made by another ring: time unknown");
  }

  @Test
  void writeManifest_overAnEarlierManifest_keepsTheRecordedCreationTimes() throws Exception {
    KeyRing maker = KeyRing.load(hsm);
    int v = maker.rotate(KeyPurpose.TICKET_ROOT).version();
    Path file = dir.resolve("keys.json");
    maker.writeManifest(file);
    Instant created = KeyManifest.read(file).entries().stream()
        .filter(e -> e.id().equals(KeyPurpose.TICKET_ROOT.id(v))).findFirst().orElseThrow()
        .created().orElseThrow();

    KeyRing.load(hsm).writeManifest(file);
    assertEquals(Optional.of(created), KeyManifest.read(file).entries().stream()
        .filter(e -> e.id().equals(KeyPurpose.TICKET_ROOT.id(v))).findFirst().orElseThrow()
        .created());
  }

  @Test
  void writeManifest_overAManifestWithAnotherKcv_isRefusedAndLeavesTheFileAlone()
      throws Exception {
    KeyRing ring = KeyRing.load(hsm);
    Path file = dir.resolve("keys.json");
    ring.writeManifest(file);
    String kcv = KeyManifest.read(file).expectedKcvs().get("kms-btid-mac#v1");
    String tampered = Files.readString(file).replace(kcv, "0123456789abcdef");
    Files.writeString(file, tampered);
    KeyManifestException e = assertThrows(KeyManifestException.class,
        () -> ring.writeManifest(file));
    assertTrue(e.getMessage().contains("kms-btid-mac#v1"), e.getMessage());
    assertTrue(e.getMessage().contains("different token"), e.getMessage());
    assertEquals(tampered, Files.readString(file));
  }

  @Test
  void writeManifest_overAManifestRecordingAKeyMissingFromTheToken_isRefused()
      throws Exception {
    Path file = dir.resolve("keys.json");
    Files.writeString(file, "{\"version\": 1, \"keys\": [{\"label\": \"kms-media-root\","
        + " \"version\": 9000, \"purpose\": \"MEDIA_ROOT\", \"kcv\": \"0123456789abcdef\","
        + " \"created\": null}]}");
    KeyManifestException e = assertThrows(KeyManifestException.class,
        () -> KeyRing.load(hsm).writeManifest(file));
    assertTrue(e.getMessage().contains("kms-media-root#v9000"), e.getMessage());
    assertTrue(e.getMessage().contains("not in the token"), e.getMessage());
  }
}
