package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.VM_BOB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.Forge;
import io.imskms.client.InsecureSecretAccess;
import io.imskms.client.MailboxClient;
import io.imskms.client.MediaProtection;
import io.imskms.client.RandomSource;
import io.imskms.client.SecretBytes;
import io.imskms.client.SoftwareCrypto;
import io.imskms.client.UeClient;
import io.imskms.client.UploadProtection;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.replay.ReplayCache;
import io.imskms.hsm.FixedTestKeys;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyRef;
import io.imskms.protocol.Contexts;
import io.imskms.protocol.Role;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The worked examples of docs/protocol.md ("Worked examples"): fixed long-term keys, clock and
 * random values go through the real KMS code on SoftHSM2 and the client SDK, and every message must
 * equal the document's hex byte for byte. The values actually produced are also written to
 * target/worked-examples.md.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WorkedExamplesTest {
  static final long T0 = 1_800_000_000_000L;
  private KmsFixture f;

  /** A real SoftHSM2 token; {@link WorkedExamplesOnSoftwareHsmTest} runs the same cases on
   * the software HSM. */
  KmsFixture newFixture() throws Exception {
    return new KmsFixture();
  }

  @BeforeAll
  void setUp() throws Exception {
    f = newFixture();
  }

  @AfterAll
  void tearDown() {
    f.close();
  }

  static byte[] fill(int b, int n) {
    byte[] out = new byte[n];
    Arrays.fill(out, (byte) b);
    return out;
  }

  /** Client random values in the order the SDK draws them. */
  static RandomSource queue(Deque<byte[]> q) {
    return n -> {
      byte[] b = q.removeFirst();
      assertEquals(n, b.length, "worked example draws in an unexpected order");
      return b;
    };
  }

  @Test
  void everyWorkedExampleInProtocolMd_isProducedByteForByte() throws Exception {
    Map<String, byte[]> ex = new LinkedHashMap<>();
    InsecureSecretAccess access = InsecureSecretAccess.get();
    Map<KeyPurpose, byte[]> roots = new EnumMap<>(KeyPurpose.class);
    roots.put(KeyPurpose.CRED_ROOT, fill(0x11, 32));
    roots.put(KeyPurpose.BTID_MAC, fill(0x22, 32));
    roots.put(KeyPurpose.TICKET_ROOT, fill(0x33, 32));
    roots.put(KeyPurpose.MEDIA_ROOT, fill(0x44, 32));

    MutableClock clock = new MutableClock(T0);
    Deque<byte[]> clientRandom = new ArrayDeque<>(List.of(
        fill(0xa1, 16), fill(0xa2, 16), fill(0xa3, 16), // bootstrap nonces: alice, vm.bob, bob
        fill(0xc1, 32), fill(0xc2, 16), fill(0xc3, 12), // offer: Ra, nonceA, IV
        fill(0xd1, 16), fill(0xd2, 12), // mailbox request: nonceM, IV
        fill(0xe1, 16), fill(0xe2, 12))); // retrieval: nonceB, IV
    Deque<byte[]> serverRandom = new ArrayDeque<>(List.of(fill(0xb1, 16), fill(0xb2, 16),
        fill(0xb3, 16)));
    RandomSource rnd = queue(clientRandom);
    Bootstrapping boot = new Bootstrapping(clock, rnd);
    UeClient ue = new UeClient(clock, rnd);
    MailboxClient mb = new MailboxClient(clock, rnd);

    try (HsmSession s = f.hsm.openSession()) {
      Map<KeyPurpose, KeyRef> imported = new EnumMap<>(KeyPurpose.class);
      for (KeyPurpose p : KeyPurpose.values()) {
        imported.put(p, FixedTestKeys.importForTest(s, p.spec(), roots.get(p)));
      }
      LongTermKeys keys = new LongTermKeys() {
        @Override
        public int activeVersion(KeyPurpose purpose) {
          return 1;
        }

        @Override
        public KeyRef key(KeyPurpose purpose, int version) throws KmsException {
          if (version != 1) {
            throw KmsException.unknownVersion(purpose, version);
          }
          return imported.get(purpose);
        }
      };
      ReplayCache replay = new ReplayCache(Duration.ofMinutes(5), 1000, clock);
      DeferredDeliveryService kms = new DeferredDeliveryService(f.hsm, keys,
          new KmsBootstrapper(keys, replay, f.directory, clock, Duration.ofHours(12),
              (session, n) -> serverRandom.removeFirst()),
          f.directory, replay, clock, DeferredDeliveryOptions.DEFAULTS);

      SecretBytes credRoot = SecretBytes.copyOf(roots.get(KeyPurpose.CRED_ROOT), access);
      ex.put("context-cred-alice", Contexts.cred(Role.UE, ALICE));
      Credential alice = new Credential(Role.UE, ALICE, 1,
          SoftwareCrypto.kdf256(credRoot, Contexts.cred(Role.UE, ALICE)));
      Credential vmBob = new Credential(Role.MAILBOX, VM_BOB, 1,
          SoftwareCrypto.kdf256(credRoot, Contexts.cred(Role.MAILBOX, VM_BOB)));
      Credential bob = new Credential(Role.UE, BOB, 1,
          SoftwareCrypto.kdf256(credRoot, Contexts.cred(Role.UE, BOB)));
      ex.put("kp-alice", Forge.kp(alice).toByteArray(access));

      ClientSession[] sessions = new ClientSession[3];
      Credential[] creds = {alice, vmBob, bob};
      String[] names = {"alice", "vm-bob", "bob"};
      for (int i = 0; i < 3; i++) {
        Bootstrapping.Pending p = boot.start(creds[i]);
        byte[] resp = kms.bootstrap(s, p.requestBytes());
        sessions[i] = boot.finish(p, resp);
        ex.put("bootstrap-request-" + names[i], p.requestBytes());
        ex.put("bootstrap-response-" + names[i], resp);
      }
      ex.put("ka", Forge.ks(sessions[0]).toByteArray(access));

      clock.advance(Duration.ofSeconds(1));
      UeClient.OutgoingOffer offer = ue.offer(sessions[0], BOB);
      ex.put("offer", offer.offerBytes());
      clock.advance(Duration.ofSeconds(1));
      MailboxClient.PendingKeyRequest mreq = mb.keyRequest(sessions[1], offer.offerBytes(), false);
      ex.put("mailbox-key-request", mreq.requestBytes());
      byte[] mresp = kms.mailboxKeyRequest(s, mreq.requestBytes());
      ex.put("mailbox-key-response", mresp);
      MailboxClient.Grant grant = mb.openResponse(mreq, mresp);
      ex.put("ue-a-delivery", grant.deliveryForUeA());
      ex.put("ticket", grant.ticket());
      SecretBytes k = ue.openDelivery(offer, grant.deliveryForUeA(), VM_BOB).mediaKey();
      ex.put("k", k.toByteArray(access));

      clock.advance(Duration.ofHours(1));
      UeClient.PendingRetrieval rreq = ue.retrieval(sessions[2], offer.offerBytes(),
          grant.ticket());
      ex.put("retrieval-request", rreq.requestBytes());
      byte[] rresp = kms.retrieveMediaKey(s, rreq.requestBytes());
      ex.put("retrieval-response", rresp);
      assertArrayEquals(ex.get("k"), ue.openRetrieval(rreq, rresp).toByteArray(access));

      byte[] media = "Hello, deferred world!".getBytes(StandardCharsets.US_ASCII);
      byte[] container = MediaProtection.encrypt(k, fill(0xf1, 16), media, 8);
      ex.put("media-container", container);
      SecretBytes ke2m = SecretBytes.copyOf(fill(0x66, 32), access);
      byte[] tag = UploadProtection.uploadTag(ke2m, ALICE, VM_BOB, container);
      ex.put("upload-tag", tag);
      ex.put("upload-ack", UploadProtection.ack(ke2m, ALICE, VM_BOB, tag));
    }

    StringBuilder out = new StringBuilder();
    for (Map.Entry<String, byte[]> e : ex.entrySet()) {
      out.append("<!-- example: ").append(e.getKey()).append(" -->\n```hex\n")
          .append(hexLines(e.getValue())).append("```\n\n");
    }
    Path target = Path.of("target", "worked-examples.md");
    Files.writeString(target, out.toString(), StandardCharsets.UTF_8);

    Map<String, String> documented = readDocumented(
        Path.of(System.getProperty("kms.repoRoot", ".."), "docs", "protocol.md"));
    List<String> failures = new ArrayList<>();
    for (Map.Entry<String, byte[]> e : ex.entrySet()) {
      String doc = documented.get(e.getKey());
      String got = HexFormat.of().formatHex(e.getValue());
      if (doc == null) {
        failures.add(e.getKey() + " missing from protocol.md");
      } else if (!doc.equals(got)) {
        failures.add(e.getKey() + " differs (see " + target.toAbsolutePath() + ")");
      }
    }
    for (String name : documented.keySet()) {
      if (!ex.containsKey(name)) {
        failures.add(name + " is documented but not produced");
      }
    }
    assertEquals(List.of(), failures);
  }

  /**
   * Recomputes the KMS's side of the documented examples in software (JCA) from the documented
   * inputs alone: the HSM does exactly the constructions protocol.md describes.
   */
  @Test
  void documentedKmsOutputs_matchAnIndependentSoftwareComputation() throws Exception {
    Map<String, String> doc = readDocumented(
        Path.of(System.getProperty("kms.repoRoot", ".."), "docs", "protocol.md"));
    HexFormat hex = HexFormat.of();
    InsecureSecretAccess access = InsecureSecretAccess.get();
    SecretBytes credRoot = SecretBytes.copyOf(fill(0x11, 32), access);
    SecretBytes btidMac = SecretBytes.copyOf(fill(0x22, 32), access);
    SecretBytes ticketRoot = SecretBytes.copyOf(fill(0x33, 32), access);
    SecretBytes mediaRoot = SecretBytes.copyOf(fill(0x44, 32), access);

    io.imskms.protocol.BootstrapResponse ra = io.imskms.protocol.BootstrapResponse.decode(
        hex.parseHex(doc.get("bootstrap-response-alice")));
    io.imskms.protocol.Btid btidA = io.imskms.protocol.Btid.decode(ra.btid());
    assertArrayEquals(btidA.tag(), SoftwareCrypto.hmac(btidMac, btidA.body()));
    SecretBytes kpA = SoftwareCrypto.kdf256(credRoot, Contexts.cred(Role.UE, ALICE));
    SecretBytes kauthA = SoftwareCrypto.kdf256(kpA, Contexts.auth());
    assertArrayEquals(ra.autn(), SoftwareCrypto.hmac(kauthA, Contexts.autn(fill(0xa1, 16),
        ra.btid())));
    SecretBytes ka = SoftwareCrypto.kdf256(kpA, Contexts.sessionKey(btidA.body()));
    assertArrayEquals(hex.parseHex(doc.get("ka")), ka.toByteArray(access));

    SecretBytes k = SoftwareCrypto.kdf256(mediaRoot, Contexts.media(fill(0xc1, 32), ALICE, BOB));
    assertArrayEquals(hex.parseHex(doc.get("k")), k.toByteArray(access));
    io.imskms.protocol.UeADelivery d = io.imskms.protocol.UeADelivery.decode(
        hex.parseHex(doc.get("ue-a-delivery")));
    assertArrayEquals(d.wrappedK(), SoftwareCrypto.wrap(SoftwareCrypto.kdf256(ka,
        Contexts.respA(fill(0xc1, 32), fill(0xc2, 16), ALICE, BOB)), k));

    byte[] ticketBytes = hex.parseHex(doc.get("ticket"));
    io.imskms.protocol.Ticket t = io.imskms.protocol.Ticket.decode(ticketBytes);
    assertArrayEquals(t.wrappedKa(), SoftwareCrypto.wrap(SoftwareCrypto.kdf256(ticketRoot,
        Contexts.ticketKek(t.header())), ka));
    assertArrayEquals(t.offerHash(), Contexts.sha256(hex.parseHex(doc.get("offer"))));

    io.imskms.protocol.Btid btidM = io.imskms.protocol.Btid.decode(
        io.imskms.protocol.BootstrapResponse.decode(
            hex.parseHex(doc.get("bootstrap-response-vm-bob"))).btid());
    SecretBytes km = SoftwareCrypto.kdf256(SoftwareCrypto.kdf256(credRoot,
        Contexts.cred(Role.MAILBOX, VM_BOB)), Contexts.sessionKey(btidM.body()));
    io.imskms.protocol.MailboxKeyResponse mr = io.imskms.protocol.MailboxKeyResponse.decode(
        hex.parseHex(doc.get("mailbox-key-response")));
    assertArrayEquals(mr.mac(), SoftwareCrypto.hmac(SoftwareCrypto.kdf256(km,
        Contexts.respM(fill(0xd1, 16))), mr.body()));

    io.imskms.protocol.Btid btidB = io.imskms.protocol.Btid.decode(
        io.imskms.protocol.BootstrapResponse.decode(
            hex.parseHex(doc.get("bootstrap-response-bob"))).btid());
    SecretBytes kb = SoftwareCrypto.kdf256(SoftwareCrypto.kdf256(credRoot,
        Contexts.cred(Role.UE, BOB)), Contexts.sessionKey(btidB.body()));
    io.imskms.protocol.RetrievalResponse rr = io.imskms.protocol.RetrievalResponse.decode(
        hex.parseHex(doc.get("retrieval-response")));
    assertArrayEquals(rr.wrappedK(), SoftwareCrypto.wrap(SoftwareCrypto.kdf256(kb,
        Contexts.respB(fill(0xe1, 16), ticketBytes, ALICE, BOB)), k));
  }

  static String hexLines(byte[] b) {
    String h = HexFormat.of().formatHex(b);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < h.length(); i += 64) {
      sb.append(h, i, Math.min(h.length(), i + 64)).append('\n');
    }
    return sb.toString();
  }

  static Map<String, String> readDocumented(Path doc) throws Exception {
    String text = Files.readString(doc, StandardCharsets.UTF_8);
    Matcher m = Pattern.compile("<!-- example: ([a-z0-9-]+) -->\\s*```hex\\n(.*?)```",
        Pattern.DOTALL).matcher(text);
    Map<String, String> out = new LinkedHashMap<>();
    while (m.find()) {
      out.put(m.group(1), m.group(2).replaceAll("\\s", "").toLowerCase());
    }
    return out;
  }
}
