package io.imskms.core;

import static io.imskms.core.KmsFixture.ALICE;
import static io.imskms.core.KmsFixture.BOB;
import static io.imskms.core.KmsFixture.CAROL;
import static io.imskms.core.KmsFixture.VM_BOB;
import static io.imskms.core.KmsFixture.VM_CAROL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.replay.ReplayCache;
import io.imskms.hsm.EcKeyPair;
import io.imskms.hsm.FixedTestKeys;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.InsecureSoftwareHsm;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import io.imskms.hsm.WrapMode;
import io.imskms.protocol.Contexts;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.Role;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The tests' {@link InsecureSoftwareHsm} against a real SoftHSM2 token through PKCS#11, side by
 * side in one JVM: the same inputs must give the same outcomes, so that the fast suites that run
 * on the software HSM ({@code *OnSoftwareHsmTest}, and mutation testing) test what the token
 * does. Three levels: the mechanisms (same bytes from the same key material, same refusal kinds),
 * the protocol over the same imported root keys with the same randomness (every message byte for
 * byte, every refusal's code), and the protocol over keys each HSM generated itself, with
 * enrolment by ECDH (the same outcome at every step, a bit flip in every byte of every request
 * refused with the same code, a media key that works).
 */
class SoftwareHsmCrossCheckTest {
  private static final InsecureSecretAccess ACCESS = InsecureSecretAccess.get();
  private static final HexFormat HEX = HexFormat.of();
  private static KmsFixture token;
  private static KmsFixture software;

  @BeforeAll
  static void setUp() throws Exception {
    token = new KmsFixture();
    software = KmsFixture.onSoftwareHsm();
  }

  @AfterAll
  static void tearDown() {
    token.close();
    software.close();
  }

  static byte[] fill(int b, int n) {
    byte[] out = new byte[n];
    java.util.Arrays.fill(out, (byte) b);
    return out;
  }

  /** The same sequence of bytes on both runs. */
  static RandomSource seeded(long seed) {
    Random r = new Random(seed);
    return n -> {
      byte[] b = new byte[n];
      r.nextBytes(b);
      return b;
    };
  }

  @FunctionalInterface
  interface Step {
    Object run() throws Exception;
  }

  /** The outcome of one step: its bytes in hex, or the refusal's code or exception kind. */
  static String outcome(Step step) {
    try {
      Object r = step.run();
      return r instanceof byte[] b ? HEX.formatHex(b) : String.valueOf(r);
    } catch (KmsException e) {
      return "refused " + e.code();
    } catch (HsmException e) {
      return "hsm " + e.kind();
    } catch (Exception e) {
      return "threw " + e.getClass().getSimpleName();
    }
  }

  /** Like {@link #outcome}, but a served request is just "served" (its bytes are random). */
  static String refusal(Step step) {
    String o = outcome(step);
    return o.startsWith("refused ") || o.startsWith("threw ") ? o : "served";
  }

  // ------------------------------------------------------------------ mechanisms

  private static Map<String, String> mechanisms(Hsm hsm) throws Exception {
    Map<String, String> out = new LinkedHashMap<>();
    KeySpec derive = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
    KeySpec wrap = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP);
    KeySpec unwrap = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.UNWRAP);
    KeySpec clientKey = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.VERIFY).wrappable();
    KeySpec gcm = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.ENCRYPT, KeyUsage.DECRYPT);
    KeySpec hmac = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN, KeyUsage.VERIFY);
    KeySpec cmac = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.SIGN, KeyUsage.VERIFY);
    byte[] iv = fill(0x0c, 12);
    byte[] aad = fill(0x0a, 7);
    KeyRef stale;
    try (HsmSession s = hsm.openSession()) {
      KeyRef root = FixedTestKeys.importForTest(s, derive, fill(0x11, 32));
      KeyRef kek = s.deriveKey(root, "kek".getBytes(), wrap);
      KeyRef kekU = s.deriveKey(root, "kek".getBytes(), unwrap);
      KeyRef k = s.deriveKey(root, "k".getBytes(), clientKey);
      KeyRef k128 = s.deriveKey(root, "k".getBytes(),
          KeySpec.of(KeyAlgorithm.AES_128, KeyUsage.VERIFY).wrappable());
      KeyRef kHmac = s.deriveKey(root, "k".getBytes(),
          KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN).wrappable());
      KeyRef plain = s.deriveKey(root, "k".getBytes(), KeySpec.of(KeyAlgorithm.AES_256,
          KeyUsage.VERIFY));
      byte[] kw = s.wrapKey(kek, k, WrapMode.KW);
      out.put("derive+KW", HEX.formatHex(kw));
      out.put("derive+KWP", outcome(() -> s.wrapKey(kek, k, WrapMode.KWP)));
      out.put("derive AES-128 (first 16 bytes)+KW", outcome(() -> s.wrapKey(kek, k128,
          WrapMode.KW)));
      out.put("derive HMAC+KW", outcome(() -> s.wrapKey(kek, kHmac, WrapMode.KW)));
      out.put("unwrap+rewrap", outcome(() -> s.wrapKey(kek,
          s.unwrapKey(kekU, kw, WrapMode.KW, clientKey), WrapMode.KW)));
      KeyRef g = FixedTestKeys.importForTest(s, gcm, fill(0x22, 32));
      byte[] ct = s.encryptGcm(g, iv, aad, fill(0x33, 45));
      out.put("gcm", HEX.formatHex(ct));
      out.put("gcm empty", outcome(() -> s.encryptGcm(g, iv, null, new byte[0])));
      out.put("gcm decrypt", outcome(() -> s.decryptGcm(g, iv, aad, ct)));
      KeyRef h = FixedTestKeys.importForTest(s, hmac, fill(0x44, 32));
      byte[] tag = s.sign(h, fill(0x55, 100));
      out.put("hmac", HEX.formatHex(tag));
      out.put("hmac verify", outcome(() -> {
        s.verify(h, fill(0x55, 100), tag);
        return "ok";
      }));
      KeyRef c = FixedTestKeys.importForTest(s, cmac, fill(0x66, 32));
      byte[] ctag = s.sign(c, fill(0x77, 33));
      out.put("cmac", HEX.formatHex(ctag));

      // refusals: which kind
      out.put("wrap a non-extractable key", outcome(() -> s.wrapKey(kek, plain, WrapMode.KW)));
      out.put("unwrap with a WRAP-only key", outcome(() -> s.unwrapKey(kek, kw, WrapMode.KW,
          clientKey)));
      byte[] badKw = kw.clone();
      badKw[5] ^= 1;
      out.put("unwrap an altered blob", outcome(() -> s.unwrapKey(kekU, badKw, WrapMode.KW,
          clientKey)));
      out.put("unwrap a short blob", outcome(() -> s.unwrapKey(kekU, new byte[24], WrapMode.KW,
          clientKey)));
      byte[] badCt = ct.clone();
      badCt[0] ^= 1;
      out.put("gcm altered", outcome(() -> s.decryptGcm(g, iv, aad, badCt)));
      out.put("gcm other aad", outcome(() -> s.decryptGcm(g, iv, fill(0, 7), ct)));
      out.put("gcm 8-byte iv", outcome(() -> s.encryptGcm(g, fill(1, 8), aad, fill(1, 3))));
      out.put("gcm with a MAC key", outcome(() -> s.encryptGcm(h, iv, aad, fill(1, 3))));
      out.put("verify altered", outcome(() -> {
        byte[] t = tag.clone();
        t[31] ^= 1;
        s.verify(h, fill(0x55, 100), t);
        return "ok";
      }));
      out.put("verify truncated", outcome(() -> {
        s.verify(h, fill(0x55, 100), java.util.Arrays.copyOf(tag, 16));
        return "ok";
      }));
      out.put("sign with VERIFY-only", outcome(() -> s.sign(k, fill(1, 3))));
      out.put("derive from a WRAP key", outcome(() -> s.deriveKey(kek, "x".getBytes(), wrap)));
      out.put("derive empty context", outcome(() -> s.deriveKey(root, new byte[0], wrap)));
      out.put("random 0", outcome(() -> s.random(0)));
      out.put("random 16", outcome(() -> s.random(16).length));
      out.put("second session on this thread", outcome(hsm::openSession));
      out.put("destroy a long-term key", outcome(() -> {
        s.destroy(hsm.findKey("kms-media-root", 1));
        return "ok";
      }));
      out.put("destroyed, then used", outcome(() -> {
        s.destroy(plain);
        s.destroy(plain);
        return "ok";
      }));

      // ECDH: the refusals here; the shared secret in ecdh_betweenTheTwoHsms_...
      EcKeyPair mine = s.generateEcKeyPair();
      out.put("ec point", outcome(() -> mine.publicPoint().length));
      byte[] offCurve = mine.publicPoint();
      offCurve[64] ^= 1;
      out.put("ecdh off-curve point", outcome(() -> s.deriveEcdh(mine.privateKey(), offCurve,
          derive)));
      out.put("ecdh into a non-AES-256 key", outcome(() -> s.deriveEcdh(mine.privateKey(),
          mine.publicPoint(), KeySpec.of(KeyAlgorithm.AES_128, KeyUsage.DERIVE))));
      stale = k;
    }
    out.put("session key after close", outcome(() -> {
      try (HsmSession s2 = hsm.openSession()) {
        s2.destroy(stale);
        return "ok";
      }
    }));
    out.put("find a missing key", outcome(() -> hsm.findKey("kms-none", 1)));
    out.put("generate an extractable long-term key", outcome(() -> hsm.generateLongTermKey(
        "kms-x", 1, KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE).wrappable())));
    out.put("generate a WRAP long-term key", outcome(() -> hsm.generateLongTermKey(
        "kms-x", 1, KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP))));
    out.put("generate an existing long-term key", outcome(() -> hsm.generateLongTermKey(
        "kms-media-root", 1, KeyPurpose.MEDIA_ROOT.spec())));
    out.put("bad label", outcome(() -> hsm.findKey("Kms Media", 1)));
    out.put("data object round trip", outcome(() -> {
      hsm.replaceDataObject("kms-cross-check", fill(9, 40));
      hsm.replaceDataObject("kms-cross-check", fill(8, 41));
      List<byte[]> v = hsm.readDataObjects("kms-cross-check");
      return v.size() + " " + HEX.formatHex(v.get(0));
    }));
    out.put("empty data object", outcome(() -> {
      hsm.replaceDataObject("kms-cross-check", new byte[0]);
      return "ok";
    }));
    out.put("session objects left", outcome(() -> KmsFixture.leftoverSessionObjects(hsm)));
    return out;
  }

  @Test
  void mechanisms_sameKeyMaterial_sameBytes_sameRefusalKinds() throws Exception {
    Map<String, String> onToken = mechanisms(token.hsm);
    Map<String, String> onSoftware = mechanisms(software.hsm);
    assertEquals(onToken, onSoftware);
    assertTrue(onToken.get("unwrap an altered blob").equals("hsm INTEGRITY"), onToken.toString());
    assertTrue(onToken.get("wrap a non-extractable key").equals("hsm POLICY"), onToken.toString());
    assertEquals("0", onToken.get("session objects left"));
  }

  @Test
  void ecdh_betweenTheTwoHsms_givesBothTheSameSecret() throws Exception {
    // Each side generates its pair and derives with the other's point in one session each.
    try (HsmSession st = token.hsm.openSession(); HsmSession ss = software.hsm.openSession()) {
      EcKeyPair onToken = st.generateEcKeyPair();
      EcKeyPair onSoftware = ss.generateEcKeyPair();
      KeySpec z = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
      KeySpec wrap = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP);
      KeySpec target = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.VERIFY).wrappable();
      byte[] a = st.wrapKey(st.deriveKey(st.deriveEcdh(onToken.privateKey(),
              onSoftware.publicPoint(), z), "enrol".getBytes(), wrap),
          FixedTestKeys.importForTest(st, target, fill(0x5a, 32)), WrapMode.KW);
      byte[] b = ss.wrapKey(ss.deriveKey(ss.deriveEcdh(onSoftware.privateKey(),
              onToken.publicPoint(), z), "enrol".getBytes(), wrap),
          FixedTestKeys.importForTest(ss, target, fill(0x5a, 32)), WrapMode.KW);
      assertArrayEquals(a, b);
    }
  }

  // ------------------------------------------------------------------ protocol, same keys

  /** Bootstrap, Figure 17, Figure 18 over fixed root keys and seeded randomness. */
  private static Map<String, String> transcript(KmsFixture f) throws Exception {
    Map<String, String> out = new LinkedHashMap<>();
    MutableClock clock = new MutableClock(KmsFixture.START);
    RandomSource client = seeded(1);
    RandomSource server = seeded(2);
    Bootstrapping boot = new Bootstrapping(clock, client);
    UeClient ue = new UeClient(clock, client);
    MailboxClient mb = new MailboxClient(clock, client);
    Map<KeyPurpose, byte[]> roots = new EnumMap<>(KeyPurpose.class);
    for (KeyPurpose p : KeyPurpose.values()) {
      roots.put(p, fill(0x10 + p.ordinal(), 32));
    }
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
      ReplayCache replay = new ReplayCache(KmsFixture.WINDOW, 1000, clock);
      DeferredDeliveryService kms = new DeferredDeliveryService(f.hsm, keys,
          new KmsBootstrapper(keys, replay, f.directory, clock, Duration.ofHours(12),
              (session, n) -> server.next(n)),
          f.directory, replay, clock, DeferredDeliveryOptions.DEFAULTS);
      SecretBytes credRoot = SecretBytes.copyOf(roots.get(KeyPurpose.CRED_ROOT), ACCESS);
      Map<String, ClientSession> sessions = new LinkedHashMap<>();
      Map<String, Credential> creds = new LinkedHashMap<>();
      for (String id : List.of(ALICE, BOB, CAROL, VM_BOB, VM_CAROL)) {
        Role role = id.contains("vm.") ? Role.MAILBOX : Role.UE;
        Credential c = new Credential(role, id, 1,
            SoftwareCrypto.kdf256(credRoot, Contexts.cred(role, id)));
        creds.put(id, c);
        Bootstrapping.Pending p = boot.start(c);
        out.put("bootstrap request " + id, HEX.formatHex(p.requestBytes()));
        byte[] resp = kms.bootstrap(s, p.requestBytes());
        out.put("bootstrap response " + id, HEX.formatHex(resp));
        sessions.put(id, boot.finish(p, resp));
      }
      ClientSession sa = sessions.get(ALICE);
      ClientSession sb = sessions.get(BOB);
      ClientSession sm = sessions.get(VM_BOB);
      byte[] again = boot.start(creds.get(ALICE)).requestBytes();
      out.put("bootstrap", outcome(() -> kms.bootstrap(s, again)));
      out.put("bootstrap replayed", outcome(() -> kms.bootstrap(s, again)));
      byte[] badProof = boot.start(creds.get(ALICE)).requestBytes();
      badProof[badProof.length - 1] ^= 1;
      out.put("bootstrap bad proof", outcome(() -> kms.bootstrap(s, badProof)));
      out.put("bootstrap cred v7", outcome(() -> kms.bootstrap(s, boot.start(new Credential(
          Role.UE, ALICE, 7, Forge.kp(creds.get(ALICE)))).requestBytes())));
      out.put("bootstrap another's credential", outcome(() -> kms.bootstrap(s, boot.start(
          new Credential(Role.UE, BOB, 1, Forge.kp(creds.get(CAROL)))).requestBytes())));

      clock.advance(Duration.ofSeconds(1));
      UeClient.OutgoingOffer offer = ue.offer(sa, BOB);
      out.put("offer", HEX.formatHex(offer.offerBytes()));
      MailboxClient.PendingKeyRequest req = mb.keyRequest(sm, offer.offerBytes(), false);
      out.put("fig17 request", HEX.formatHex(req.requestBytes()));
      byte[] resp = kms.mailboxKeyRequest(s, req.requestBytes());
      out.put("fig17 response", HEX.formatHex(resp));
      MailboxClient.Grant grant = mb.openResponse(req, resp);
      SecretBytes k = ue.openDelivery(offer, grant.deliveryForUeA(), VM_BOB).mediaKey();
      out.put("K at UE-A", HEX.formatHex(k.toByteArray(ACCESS)));
      out.put("fig17 replayed", outcome(() -> kms.mailboxKeyRequest(s, req.requestBytes())));
      out.put("fig17 wrong mailbox", outcome(() -> kms.mailboxKeyRequest(s, mb.keyRequest(
          sessions.get(VM_CAROL), ue.offer(sa, BOB).offerBytes(), false).requestBytes())));
      byte[] badEm = mb.keyRequest(sm, ue.offer(sa, BOB).offerBytes(), false).requestBytes();
      badEm[badEm.length - 1] ^= 1;
      out.put("fig17 altered Em", outcome(() -> kms.mailboxKeyRequest(s, badEm)));
      out.put("fig17 offer sealed for Carol", outcome(() -> kms.mailboxKeyRequest(s,
          mb.keyRequest(sm, Forge.offer(sa, ALICE, BOB, ALICE, CAROL, clock.millis()), false)
              .requestBytes())));
      MailboxClient.PendingKeyRequest e2m = mb.keyRequest(sm, ue.offer(sa, BOB).offerBytes(),
          true);
      out.put("fig17 with Ke2m", outcome(() -> mb.openResponse(e2m,
          kms.mailboxKeyRequest(s, e2m.requestBytes())).e2mKey().isPresent()));

      clock.advance(Duration.ofHours(1));
      UeClient.PendingRetrieval pr = ue.retrieval(sb, offer.offerBytes(), grant.ticket());
      out.put("fig18 request", HEX.formatHex(pr.requestBytes()));
      byte[] rresp = kms.retrieveMediaKey(s, pr.requestBytes());
      out.put("fig18 response", HEX.formatHex(rresp));
      SecretBytes kb = ue.openRetrieval(pr, rresp);
      out.put("K at UE-B", HEX.formatHex(kb.toByteArray(ACCESS)));
      out.put("fig18 replayed", outcome(() -> kms.retrieveMediaKey(s, pr.requestBytes())));
      out.put("fig18 by Carol", outcome(() -> kms.retrieveMediaKey(s, Forge.retrieval(
          sessions.get(CAROL), offer.offerBytes(), grant.ticket(), ALICE, BOB, clock.millis()))));
      byte[] badTicket = grant.ticket().clone();
      badTicket[badTicket.length - 1] ^= 1;
      out.put("fig18 altered ticket", outcome(() -> kms.retrieveMediaKey(s,
          ue.retrieval(sb, offer.offerBytes(), badTicket).requestBytes())));
      clock.advance(Duration.ofDays(31));
      out.put("fig18 after retention", outcome(() -> kms.retrieveMediaKey(s, ue.retrieval(
          sb, offer.offerBytes(), grant.ticket()).requestBytes())));
    }
    return out;
  }

  @Test
  void protocol_sameRootKeysAndRandomness_sameBytesAndRefusalsAtEveryStep() throws Exception {
    Map<String, String> onToken = transcript(token);
    Map<String, String> onSoftware = transcript(software);
    assertEquals(onToken, onSoftware);
    assertEquals(onToken.get("K at UE-A"), onToken.get("K at UE-B"));
    assertEquals("true", onToken.get("fig17 with Ke2m"));
    assertEquals("refused " + ErrorCode.REPLAY, onToken.get("fig18 replayed"));
    assertEquals("refused " + ErrorCode.EXPIRED_BTID, onToken.get("fig18 after retention"));
  }

  // ------------------------------------------------------------------ protocol, own keys

  /** Enrolment, bootstrap, Figures 17 (with Ke2m) and 18 on each HSM's own generated keys. */
  private static List<String> outcomes(KmsFixture f) throws Exception {
    List<String> out = new ArrayList<>();
    f.rebuild(DeferredDeliveryOptions.DEFAULTS);
    Credential alice = f.enrol(Role.UE, ALICE);
    Credential bob = f.enrol(Role.UE, BOB);
    Credential vmBob = f.enrol(Role.MAILBOX, VM_BOB);
    out.add("enrolled cred v" + alice.credVersion());
    ClientSession sa = f.bootstrap(alice);
    ClientSession sb = f.bootstrap(bob);
    ClientSession sm = f.bootstrap(vmBob);
    out.add("bootstrapped, B-TID " + sa.btidBytes().length + " bytes");
    UeClient.OutgoingOffer o = f.ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest r = f.mailbox.keyRequest(sm, o.offerBytes(), true);
    MailboxClient.Grant g = f.mailbox.openResponse(r, f.kms.mailboxKeyRequest(r.requestBytes()));
    UeClient.DeliveredKeys d = f.ue.openDelivery(o, g.deliveryForUeA(), VM_BOB);
    out.add("Ke2m shared: " + d.e2mKey().get().equalContents(g.e2mKey().get()));
    UeClient.PendingRetrieval pr = f.ue.retrieval(sb, o.offerBytes(), g.ticket());
    SecretBytes kb = f.ue.openRetrieval(pr, f.kms.retrieveMediaKey(pr.requestBytes()));
    out.add("same K at A and B: " + d.mediaKey().equalContents(kb));
    byte[] media = fill(0x42, 1000);
    out.add("media decrypts: " + java.util.Arrays.equals(media, MediaProtection.decrypt(kb,
        MediaProtection.encrypt(d.mediaKey(), fill(1, 16), media, 256))));
    // A bit flip in every byte of each request: the code per byte.
    byte[] bootSample = f.bootstrapping.start(alice).requestBytes();
    for (int i = 0; i < bootSample.length; i++) {
      byte[] req = f.bootstrapping.start(alice).requestBytes();
      req[i] ^= 1;
      out.add("bootstrap[" + i + "] " + refusal(() -> f.kms.bootstrap(req)));
    }
    byte[] mrSample = f.mailbox.keyRequest(sm, f.ue.offer(sa, BOB).offerBytes(), true)
        .requestBytes();
    for (int i = 0; i < mrSample.length; i++) {
      byte[] req = f.mailbox.keyRequest(sm, f.ue.offer(sa, BOB).offerBytes(), true)
          .requestBytes();
      req[i] ^= 1;
      out.add("fig17[" + i + "] " + refusal(() -> f.kms.mailboxKeyRequest(req)));
    }
    byte[] rrSample = f.ue.retrieval(sb, o.offerBytes(), g.ticket()).requestBytes();
    for (int i = 0; i < rrSample.length; i++) {
      byte[] req = f.ue.retrieval(sb, o.offerBytes(), g.ticket()).requestBytes();
      req[i] ^= 1;
      out.add("fig18[" + i + "] " + refusal(() -> f.kms.retrieveMediaKey(req)));
    }
    out.add("session objects left " + f.leftoverSessionObjects());
    return out;
  }

  @Test
  void protocol_ownGeneratedKeys_sameOutcomeAtEveryStep_andAWorkingMediaKey() throws Exception {
    List<String> onToken = outcomes(token);
    List<String> onSoftware = outcomes(software);
    assertEquals(onToken, onSoftware);
    assertTrue(onToken.contains("same K at A and B: true"), onToken.toString());
    assertTrue(onToken.contains("media decrypts: true"), onToken.toString());
    assertTrue(onToken.contains("Ke2m shared: true"), onToken.toString());
    assertFalse(onToken.stream().anyMatch(x -> x.contains("threw")), onToken.toString());
  }
}
