package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.*;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.MailboxClient;
import io.imskms.client.RandomSource;
import io.imskms.client.SecretBytes;
import io.imskms.client.UeClient;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyBackup;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.keys.KeyState;
import io.imskms.core.keys.KeyVersionInfo;
import io.imskms.core.principals.PrincipalRegistry;
import io.imskms.core.replay.ReplayCache;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.hsm.KeyCeremony;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.Pkcs11KeyCeremony;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.protocol.Role;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Backup and restore between two real SoftHSM2 tokens through kms-core: a message left with token
 * 1 (its ticket wrapped under token 1's Kkms, Bob's credential derived from token 1's cred root)
 * is retrieved through a KMS on token 2 after export and import under the same two components;
 * the key check values and lifecycle states are equal; pkcs11-tool shows the restored keys
 * sensitive and not extractable; a file changed in one byte and a token with different keys under
 * the same labels are refused; the same keys already present are skipped.
 */
class KeyBackupRoundTripTest {
  private static final SecureRandom RANDOM = new SecureRandom();
  private static SoftHsmTestToken source;
  private static SoftHsmTestToken target;
  private static Path work;
  private static byte[] c1;
  private static byte[] c2;

  @BeforeAll
  static void setUp() throws Exception {
    source = SoftHsmTestToken.create();
    target = source.second();
    work = source.tokenDir().getParent().resolve("backup-" + System.nanoTime());
    Files.createDirectories(work);
    c1 = new byte[32];
    c2 = new byte[32];
    RANDOM.nextBytes(c1);
    RANDOM.nextBytes(c2);
  }

  @AfterAll
  static void tearDown() {
    source.close();
  }

  /** A KMS over one token, built as the server builds it. */
  private static final class Node {
    final KeyRing ring;
    final DeferredDeliveryService kms;
    final EcdhEnrolment enrolment;
    final MutableClock clock = new MutableClock(System.currentTimeMillis());
    final Bootstrapping bootstrapping = new Bootstrapping(clock, RandomSource.secure());
    final UeClient ue = new UeClient(clock, RandomSource.secure());
    final MailboxClient mailbox = new MailboxClient(clock, RandomSource.secure());

    Node(Hsm hsm, KeyRing ring) throws Exception {
      this.ring = ring;
      Path dir = work.resolve("directory-" + System.nanoTime() + ".json");
      Files.writeString(dir, "{\"version\":1,\"mailboxes\":{\"" + VM_BOB + "\":{\"users\":[\""
          + BOB + "\"]}}}", StandardCharsets.UTF_8);
      MailboxDirectory directory = MailboxDirectory.load(dir);
      LongTermKeys keys = LongTermKeys.of(ring);
      ReplayCache replay = new ReplayCache(Duration.ofMinutes(5), 10_000, clock);
      kms = new DeferredDeliveryService(hsm, keys, new KmsBootstrapper(keys, replay, directory,
          clock, DeferredDeliveryOptions.DEFAULTS.btidLifetime(), ServerRandom.HSM), directory,
          replay, clock, DeferredDeliveryOptions.DEFAULTS);
      enrolment = new EcdhEnrolment(hsm, keys, directory);
    }

    Credential enrol(Role role, String id) throws Exception {
      DeviceEnrolment device = new DeviceEnrolment(role, id);
      return device.open(enrolment.enrol(device.requestBytes()));
    }

    ClientSession bootstrap(Credential c) throws Exception {
      Bootstrapping.Pending p = bootstrapping.start(c);
      return bootstrapping.finish(p, kms.bootstrap(p.requestBytes()));
    }
  }

  private static Map<String, String> kcvs(KeyRing ring) {
    return ring.describe().stream().collect(Collectors.toMap(
        k -> k.purpose().id(k.version()), KeyVersionInfo::kcv));
  }

  private static Map<String, KeyState> states(KeyRing ring) {
    return ring.describe().stream().collect(Collectors.toMap(
        k -> k.purpose().id(k.version()), KeyVersionInfo::state));
  }

  private static KeyCeremony importCeremony(SoftHsmTestToken t, byte[]... components)
      throws Exception {
    KeyCeremony c = Pkcs11KeyCeremony.open(t.config().build(), KeyCeremony.Purpose.IMPORT, null);
    for (byte[] comp : components) {
      c.addComponent(comp);
    }
    return c;
  }

  @Test
  void exportImport_aTicketAndCredentialsFromToken1_workThroughToken2() throws Exception {
    // Token 1: backup-capable keys, a second version of Kkms (decrypt-only: two versions, two
    // states), enrolments and a message left for Bob.
    Map<String, String> kcvs1;
    long principalSequence;
    Map<String, KeyState> states1;
    Credential bob;
    Credential vmBob;
    byte[] offer;
    byte[] ticket;
    SecretBytes k;
    try (Pkcs11Hsm hsm = source.open(b -> b.backupCapableKeys(true))) {
      KeyRing ring = KeyRing.ensureProvisioned(hsm);
      Node n1 = new Node(hsm, ring);
      Credential alice = n1.enrol(Role.UE, ALICE);
      bob = n1.enrol(Role.UE, BOB);
      vmBob = n1.enrol(Role.MAILBOX, VM_BOB);
      ClientSession sa = n1.bootstrap(alice);
      ClientSession sm = n1.bootstrap(vmBob);
      UeClient.OutgoingOffer o = n1.ue.offer(sa, BOB);
      MailboxClient.PendingKeyRequest req = n1.mailbox.keyRequest(sm, o.offerBytes(), false);
      MailboxClient.Grant grant = n1.mailbox.openResponse(req,
          n1.kms.mailboxKeyRequest(req.requestBytes()));
      k = n1.ue.openDelivery(o, grant.deliveryForUeA(), VM_BOB).mediaKey();
      offer = o.offerBytes();
      ticket = grant.ticket();
      ring.rotate(KeyPurpose.TICKET_ROOT, Duration.ofHours(1));
      PrincipalRegistry operator = PrincipalRegistry.load(hsm);
      operator.revoke(KmsFixture.CAROL, "lost device");
      // enough revoked principals with long reasons for a record of several chunks
      for (int i = 0; i < 120; i++) {
        operator.revoke("sip:lost" + i + "@ims.example.com", "r".repeat(200));
      }
      principalSequence = operator.record().sequence();
      assertTrue(hsm.readDataObjects(PrincipalRegistry.OBJECT_LABEL).size() > 1);
      kcvs1 = kcvs(ring);
      states1 = states(ring);
    }
    assertEquals(5, kcvs1.size());
    assertEquals(KeyState.DECRYPT_ONLY, states1.get("kms-ticket-root#v2"));

    // Export: the SO's ceremony first, then the user's adapter.
    byte[] file;
    String kekKcv;
    List<String> componentKcvs = new ArrayList<>();
    try (KeyCeremony ex = Pkcs11KeyCeremony.open(source.config().build(),
        KeyCeremony.Purpose.EXPORT, source.soPinForTest())) {
      componentKcvs.add(ex.addComponent(c1));
      componentKcvs.add(ex.addComponent(c2));
      kekKcv = ex.assemble();
      try (Pkcs11Hsm hsm = source.open()) {
        KeyBackup.Exported e = KeyBackup.export(hsm, ex, source.label(), componentKcvs, kekKcv);
        assertEquals(5, e.keys().size());
        assertTrue(e.omitted().isEmpty());
        file = e.bytes();
      }
    }
    Path out = work.resolve("keys.backup");
    KeyBackup.write(out, file);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
    assertThrows(IOException.class, () -> KeyBackup.write(out, file), "never overwrites");
    String text = new String(file, StandardCharsets.US_ASCII);
    for (String id : kcvs1.keySet()) {
      assertTrue(text.contains("\"" + id.substring(0, id.indexOf('#')) + "\""), id);
    }

    // A file with one byte changed is refused (inside the body: the MAC; the header: the form).
    for (int pos : new int[] {text.indexOf("\"decrypt-only\"") + 3, text.indexOf("wrapped") + 14,
        file.length - 5}) {
      byte[] bad = file.clone();
      bad[pos] ^= 0x01;
      try (KeyCeremony im = importCeremony(target, c1, c2)) {
        assertEquals(kekKcv, im.assemble());
        HsmIntegrityException e = assertThrows(HsmIntegrityException.class, () -> {
          KeyBackup.File f = KeyBackup.parse(bad);
          KeyBackup.verify(f, im);
        });
        assertTrue(e.getMessage().contains("modified") || e.getMessage().contains("MAC"),
            e.getMessage());
      }
    }

    // Import into token 2.
    KeyBackup.Plan plan;
    try (KeyCeremony im = importCeremony(target, c1, c2)) {
      KeyBackup.File f = KeyBackup.parse(Files.readAllBytes(out));
      assertEquals(componentKcvs, f.componentKcvs());
      assertEquals(kekKcv, im.assemble());
      KeyBackup.verify(f, im);
      plan = KeyBackup.plan(f, im);
      assertEquals(5, plan.toRestore().size());
      KeyBackup.restore(plan, im, false);
    }
    try (Pkcs11Hsm hsm = target.open()) {
      hsm.admitRestoredKeys(plan.kcvs());
      KeyBackup.writeLifecycle(hsm, plan);
      assertEquals(List.of("kms-principals: written (sequence " + principalSequence + ")"),
          KeyBackup.writeRecords(hsm, plan));
      // The revoked principals stay revoked on the restored token (a record of several chunks).
      assertTrue(PrincipalRegistry.load(hsm).revoked(KmsFixture.CAROL));
      assertTrue(PrincipalRegistry.load(hsm).revoked("sip:lost119@ims.example.com"));
      assertEquals(121, PrincipalRegistry.load(hsm).revokedPrincipals().size());
      assertTrue(hsm.readDataObjects(PrincipalRegistry.OBJECT_LABEL).size() > 1);
      assertFalse(PrincipalRegistry.load(hsm).revoked(BOB));
      KeyRing ring = KeyRing.load(hsm);
      assertEquals(kcvs1, kcvs(ring));
      assertEquals(states1, states(ring));
      // The ticket made through token 1 resolves through token 2; Bob's credential (enrolled
      // on token 1) bootstraps on token 2.
      Node n2 = new Node(hsm, ring);
      ClientSession sb = n2.bootstrap(bob);
      UeClient.PendingRetrieval pr = n2.ue.retrieval(sb, offer, ticket);
      SecretBytes k2 = n2.ue.openRetrieval(pr, n2.kms.retrieveMediaKey(pr.requestBytes()));
      assertTrue(k.equalContents(k2), "the media key retrieved through token 2 differs");
    }
    String listing = pkcs11Tool(target, "--list-objects", "--type", "secrkey");
    int restored = 0;
    for (String block : listing.split("\n(?=Secret Key Object)")) {
      if (!block.contains("kms-")) {
        continue;
      }
      restored++;
      String access = block.lines().filter(l -> l.trim().startsWith("Access:")).findFirst()
          .orElseThrow(() -> new AssertionError(block));
      assertTrue(access.contains("sensitive"), block);
      assertFalse(access.replace("never extractable", "").contains("extractable"), block);
    }
    assertTrue(restored >= 5, listing);

    // Importing again into token 2: the same keys are there, skipped.
    try (KeyCeremony im = importCeremony(target, c1, c2)) {
      im.assemble();
      KeyBackup.File f = KeyBackup.parse(file);
      KeyBackup.verify(f, im);
      KeyBackup.Plan again = KeyBackup.plan(f, im);
      assertEquals(0, again.toRestore().size());
      assertEquals(5, again.alreadyPresent().size());
    }

    // A third token with its own keys under the same labels is refused, naming them.
    SoftHsmTestToken third = source.second();
    try (Pkcs11Hsm hsm = third.open()) {
      KeyRing.ensureProvisioned(hsm);
    }
    try (KeyCeremony im = importCeremony(third, c1, c2)) {
      im.assemble();
      KeyBackup.File f = KeyBackup.parse(file);
      KeyBackup.verify(f, im);
      HsmPolicyException e = assertThrows(HsmPolicyException.class, () -> KeyBackup.plan(f, im));
      assertTrue(e.getMessage().contains("kms-cred-root#v1")
          && e.getMessage().contains("nothing imported"), e.getMessage());
    }
  }

  @Test
  void export_ofNeverExtractableKeys_isRefusedNamingEachKeyAndTheReason() throws Exception {
    SoftHsmTestToken plain = source.second();
    try (Pkcs11Hsm hsm = plain.open()) {
      KeyRing.ensureProvisioned(hsm);
    }
    try (KeyCeremony ex = Pkcs11KeyCeremony.open(plain.config().build(),
        KeyCeremony.Purpose.EXPORT, plain.soPinForTest())) {
      ex.addComponent(c1);
      ex.addComponent(c2);
      String kek = ex.assemble();
      try (Pkcs11Hsm hsm = plain.open()) {
        HsmPolicyException e = assertThrows(HsmPolicyException.class,
            () -> KeyBackup.export(hsm, ex, plain.label(), List.of("a", "b"), kek));
        for (KeyPurpose p : KeyPurpose.values()) {
          assertTrue(e.getMessage().contains(p.id(1) + " cannot be exported: it is"
              + " CKA_EXTRACTABLE=false"), e.getMessage());
        }
      }
    }
    // The documented way out: core.keyBackup on, rotate every purpose, retire the old versions;
    // the retired never-extractable versions are then left out and listed.
    try (Pkcs11Hsm hsm = plain.open(b -> b.backupCapableKeys(true))) {
      KeyRing ring = KeyRing.load(hsm);
      for (KeyPurpose p : KeyPurpose.values()) {
        ring.rotate(p);
        ring.setState(p, 1, KeyState.RETIRED, Duration.ZERO);
      }
    }
    try (KeyCeremony ex = Pkcs11KeyCeremony.open(plain.config().build(),
        KeyCeremony.Purpose.EXPORT, plain.soPinForTest())) {
      ex.addComponent(c1);
      ex.addComponent(c2);
      String kek = ex.assemble();
      try (Pkcs11Hsm hsm = plain.open()) {
        KeyBackup.Exported e = KeyBackup.export(hsm, ex, plain.label(), List.of("a", "b"), kek);
        assertEquals(KeyPurpose.values().length, e.keys().size());
        assertTrue(e.keys().stream().allMatch(k -> k.version() == 2), e.keys().toString());
        assertEquals(KeyPurpose.values().length, e.omitted().size());
        assertTrue(e.omitted().stream().allMatch(o -> o.id().endsWith("#v1")
            && o.state() == KeyState.RETIRED && o.reason().contains("CKA_EXTRACTABLE=false")),
            e.omitted().toString());
      }
    }
  }

  private static String pkcs11Tool(SoftHsmTestToken token, String... args)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("pkcs11-tool", "--module",
        token.module().toString(), "--token-label", token.label(), "--login", "--pin",
        "env:KMS_TEST_PIN"));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("SOFTHSM2_CONF", token.confFile().toString());
    pb.environment().put("KMS_TEST_PIN", token.userPinForTest());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "pkcs11-tool hung");
    assertEquals(0, p.exitValue(), out);
    return out;
  }
}
