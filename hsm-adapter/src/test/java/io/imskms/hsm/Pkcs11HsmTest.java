package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.xipki.pkcs11.wrapper.PKCS11Constants;

/** The adapter against a real SoftHSM2 token: operations, custody policy, typed errors. */
class Pkcs11HsmTest {
  private static final KeySpec ROOT = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec GCM = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.ENCRYPT,
      KeyUsage.DECRYPT);
  private static final KeySpec KEK = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP,
      KeyUsage.UNWRAP);
  private static final byte[] IV = new byte[12];

  private static SoftHsmTestToken token;
  private static Pkcs11Hsm hsm;
  private static KeyRef root;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    hsm = token.open();
    root = hsm.generateLongTermKey("test-root", 1, ROOT).ref();
  }

  @AfterAll
  static void tearDown() {
    if (hsm != null) {
      hsm.close();
    }
    token.close();
  }

  private static byte[] ctx(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void derive_sameContext_givesSameKey_otherContext_givesOther() throws Exception {
    try (HsmSession s = hsm.openSession()) {
      KeyRef k1 = s.deriveKey(root, ctx("a"), GCM);
      KeyRef k2 = s.deriveKey(root, ctx("a"), GCM);
      KeyRef k3 = s.deriveKey(root, ctx("b"), GCM);
      byte[] ct = s.encryptGcm(k1, IV, ctx("aad"), ctx("hello"));
      assertArrayEquals(ctx("hello"), s.decryptGcm(k2, IV, ctx("aad"), ct));
      HsmException e = assertThrows(HsmException.class, () -> s.decryptGcm(k3, IV, ctx("aad"), ct));
      assertEquals(HsmException.Kind.INTEGRITY, e.kind());
    }
  }

  @Test
  void derive_matchesThePortableSoftwareKdf() throws Exception {
    byte[] base = new byte[32];
    byte[] kek = new byte[32];
    Arrays.fill(base, (byte) 7);
    Arrays.fill(kek, (byte) 9);
    byte[] context = ctx("imskms/test/context");
    try (HsmSession hs = hsm.openSession()) {
      Pkcs11Session s = (Pkcs11Session) hs;
      KeyRef b = s.importCleartextKeyForSelfTest(PKCS11Constants.CKK_AES, base, ROOT);
      KeyRef w = s.importCleartextKeyForSelfTest(PKCS11Constants.CKK_AES, kek, KEK);
      KeyRef derived = s.deriveKey(b, context, GCM.wrappable());
      byte[] wrapped = s.wrapKey(w, derived, WrapMode.KW);

      Cipher unwrap = Cipher.getInstance("AESWrap");
      unwrap.init(Cipher.UNWRAP_MODE, new SecretKeySpec(kek, "AES"));
      byte[] got = unwrap.unwrap(wrapped, "AES", Cipher.SECRET_KEY).getEncoded();
      Cipher ecb = Cipher.getInstance("AES/ECB/NoPadding");
      ecb.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(base, "AES"));
      byte[] expected = ecb.doFinal(Pkcs11Hsm.sha256(context));
      assertArrayEquals(expected, got);
    }
  }

  @Test
  void wrap_unwrap_roundTrip_andTamperIsIntegrityFailure() throws Exception {
    try (HsmSession s = hsm.openSession()) {
      KeyRef kek = s.deriveKey(root, ctx("kek"), KEK);
      KeyRef k = s.deriveKey(root, ctx("k"), GCM.wrappable());
      for (WrapMode mode : WrapMode.values()) {
        byte[] blob = s.wrapKey(kek, k, mode);
        assertEquals(40, blob.length);
        KeyRef back = s.unwrapKey(kek, blob, mode, GCM);
        byte[] ct = s.encryptGcm(k, IV, null, ctx("x"));
        assertArrayEquals(ctx("x"), s.decryptGcm(back, IV, null, ct));
        blob[5] ^= 1;
        HsmException e = assertThrows(HsmException.class, () -> s.unwrapKey(kek, blob, mode, GCM));
        assertEquals(HsmException.Kind.INTEGRITY, e.kind(), e.getMessage());
        e = assertThrows(HsmException.class,
            () -> s.unwrapKey(kek, Arrays.copyOf(blob, 39), mode, GCM));
        assertEquals(HsmException.Kind.INTEGRITY, e.kind());
      }
    }
  }

  @Test
  void hmac_signVerify_andWrongTagIsIntegrityFailure() throws Exception {
    KeySpec mac = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN, KeyUsage.VERIFY);
    KeyRef macKey = hsm.generateLongTermKey("test-mac", 1, mac).ref();
    try (HsmSession s = hsm.openSession()) {
      byte[] tag = s.sign(macKey, ctx("data"));
      assertEquals(32, tag.length);
      s.verify(macKey, ctx("data"), tag);
      tag[0] ^= 1;
      HsmException e = assertThrows(HsmException.class, () -> s.verify(macKey, ctx("data"), tag));
      assertEquals(HsmException.Kind.INTEGRITY, e.kind());
      KeyRef cmac = s.deriveKey(root, ctx("cmac"), KeySpec.of(KeyAlgorithm.AES_256,
          KeyUsage.SIGN, KeyUsage.VERIFY));
      byte[] t2 = s.sign(cmac, ctx("data"));
      assertEquals(16, t2.length);
      s.verify(cmac, ctx("data"), t2);
    }
  }

  @Test
  void longTermKeys_areFoundAgainWithTheirKcv_andCannotBeWrapped() throws Exception {
    KeyRef found = hsm.findKey("test-root", 1);
    assertEquals(ROOT, found.spec());
    assertEquals("KeyRef[test-root v1]", found.toString());
    LongTermKeyInfo info = hsm.listLongTermKeys().stream()
        .filter(i -> i.label().equals("test-root")).findFirst().orElseThrow();
    assertTrue(info.kcv().matches("[0-9a-f]{16}"), info.kcv());
    assertThrows(KeyNotFoundException.class, () -> hsm.findKey("test-root", 2));
    assertThrows(HsmPolicyException.class, () -> hsm.generateLongTermKey("test-root", 1, ROOT));
    assertThrows(HsmPolicyException.class,
        () -> hsm.generateLongTermKey("test-gcm", 1, GCM));
    try (HsmSession s = hsm.openSession()) {
      KeyRef kek = s.deriveKey(root, ctx("kek"), KEK);
      assertThrows(HsmPolicyException.class, () -> s.wrapKey(kek, found, WrapMode.KW));
    }
  }

  @Test
  void policy_wrongUsage_staleReference_foreignSession_areRefused() throws Exception {
    KeyRef leaked;
    try (HsmSession s = hsm.openSession()) {
      KeyRef k = s.deriveKey(root, ctx("k"), GCM);
      assertThrows(HsmPolicyException.class, () -> s.sign(k, ctx("x")));
      assertThrows(HsmPolicyException.class, () -> s.encryptGcm(root, IV, null, ctx("x")));
      assertThrows(HsmPolicyException.class, () -> s.encryptGcm(k, new byte[8], null, ctx("x")));
      assertThrows(HsmPolicyException.class, () -> s.deriveKey(root, new byte[0], GCM));
      KeyRef nonWrappable = s.deriveKey(root, ctx("n"), GCM);
      KeyRef kek = s.deriveKey(root, ctx("kek"), KEK);
      assertThrows(HsmPolicyException.class, () -> s.wrapKey(kek, nonWrappable, WrapMode.KW));
      s.destroy(k);
      assertThrows(HsmPolicyException.class, () -> s.encryptGcm(k, IV, null, ctx("x")));
      leaked = s.deriveKey(root, ctx("leak"), GCM);
      KeyRef l = leaked;
      assertThrows(HsmPolicyException.class, () -> hsm.openSession());
    }
    KeyRef stale = leaked;
    try (HsmSession s = hsm.openSession()) {
      HsmPolicyException e = assertThrows(HsmPolicyException.class,
          () -> s.encryptGcm(stale, IV, null, ctx("x")));
      assertTrue(e.getMessage().contains("stale"));
    }
  }

  @Test
  void sessionObjects_areAllDestroyed_afterManyOperations() throws Exception {
    long before = hsm.countSessionObjects();
    for (int i = 0; i < 2000; i++) {
      try (HsmSession s = hsm.openSession()) {
        KeyRef kek = s.deriveKey(root, ctx("kek" + i), KEK);
        KeyRef k = s.deriveKey(root, ctx("k" + i), GCM.wrappable());
        s.unwrapKey(kek, s.wrapKey(kek, k, WrapMode.KW), WrapMode.KW, GCM);
        if (i % 2 == 0) {
          s.destroy(k);
        }
      }
    }
    assertEquals(before, hsm.countSessionObjects());
  }

  @Test
  void ecdh_insideTheHsm_matchesSoftwareEcdh_andFeedsThePortableKdf() throws Exception {
    java.security.KeyPairGenerator kpg = java.security.KeyPairGenerator.getInstance("EC");
    kpg.initialize(new java.security.spec.ECGenParameterSpec("secp256r1"));
    java.security.KeyPair device = kpg.generateKeyPair();
    java.security.interfaces.ECPublicKey devPub =
        (java.security.interfaces.ECPublicKey) device.getPublic();
    byte[] devPoint = new byte[65];
    devPoint[0] = 4;
    byte[] x = devPub.getW().getAffineX().toByteArray();
    byte[] y = devPub.getW().getAffineY().toByteArray();
    System.arraycopy(x, Math.max(0, x.length - 32), devPoint, 1 + 32 - Math.min(32, x.length),
        Math.min(32, x.length));
    System.arraycopy(y, Math.max(0, y.length - 32), devPoint, 33 + 32 - Math.min(32, y.length),
        Math.min(32, y.length));
    byte[] secret = new byte[32];
    Arrays.fill(secret, (byte) 5);
    byte[] context = ctx("imskms/test/enrol");
    byte[] wrapped;
    byte[] ephPoint;
    try (HsmSession hs = hsm.openSession()) {
      EcKeyPair eph = hs.generateEcKeyPair();
      ephPoint = eph.publicPoint();
      assertEquals(65, ephPoint.length);
      KeyRef z = hs.deriveEcdh(eph.privateKey(), devPoint, ROOT);
      KeyRef kek = hs.deriveKey(z, context, KEK);
      KeyRef k = ((Pkcs11Session) hs).importCleartextKeyForSelfTest(PKCS11Constants.CKK_AES,
          secret, GCM.wrappable());
      wrapped = hs.wrapKey(kek, k, WrapMode.KW);
      byte[] offCurve = devPoint.clone();
      offCurve[64] ^= 1;
      assertThrows(HsmPolicyException.class, () -> hs.deriveEcdh(eph.privateKey(), offCurve,
          ROOT));
      assertThrows(HsmPolicyException.class, () -> hs.deriveKey(eph.privateKey(), context, KEK));
      KeyRef fresh = hs.generateKey(GCM);
      byte[] ct = hs.encryptGcm(fresh, IV, null, ctx("m"));
      assertArrayEquals(ctx("m"), hs.decryptGcm(fresh, IV, null, ct));
    }
    java.security.KeyFactory kf = java.security.KeyFactory.getInstance("EC");
    java.security.spec.ECPoint w = new java.security.spec.ECPoint(
        new java.math.BigInteger(1, Arrays.copyOfRange(ephPoint, 1, 33)),
        new java.math.BigInteger(1, Arrays.copyOfRange(ephPoint, 33, 65)));
    java.security.PublicKey ephPub = kf.generatePublic(
        new java.security.spec.ECPublicKeySpec(w, devPub.getParams()));
    javax.crypto.KeyAgreement ka = javax.crypto.KeyAgreement.getInstance("ECDH");
    ka.init(device.getPrivate());
    ka.doPhase(ephPub, true);
    byte[] z = ka.generateSecret();
    Cipher ecb = Cipher.getInstance("AES/ECB/NoPadding");
    ecb.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(z, "AES"));
    byte[] kek = ecb.doFinal(Pkcs11Hsm.sha256(context));
    Cipher unwrap = Cipher.getInstance("AESWrap");
    unwrap.init(Cipher.UNWRAP_MODE, new SecretKeySpec(kek, "AES"));
    assertArrayEquals(secret, unwrap.unwrap(wrapped, "AES", Cipher.SECRET_KEY).getEncoded());
  }

  @Test
  void sessionKeys_areSensitive_andOnlyWrappableOnesAreExtractable() throws Exception {
    try (HsmSession hs = hsm.openSession()) {
      Pkcs11Session s = (Pkcs11Session) hs;
      KeyRef plain = s.deriveKey(root, ctx("p"), GCM);
      KeyRef wrappable = s.deriveKey(root, ctx("w"), GCM.wrappable());
      org.xipki.pkcs11.wrapper.Session raw = s.rawSessionForBenchmark();
      for (KeyRef k : new KeyRef[] {plain, wrappable}) {
        org.xipki.pkcs11.wrapper.AttributeVector a = raw.getAttrValues(
            s.rawHandleForBenchmark(k), PKCS11Constants.CKA_SENSITIVE,
            PKCS11Constants.CKA_EXTRACTABLE, PKCS11Constants.CKA_SIGN, PKCS11Constants.CKA_WRAP);
        assertEquals(Boolean.TRUE, a.sensitive(), k.toString());
        assertEquals(k == wrappable, a.extractable(), k.toString());
        assertEquals(Boolean.FALSE, a.sign(), k.toString());
        assertEquals(Boolean.FALSE, a.wrap(), k.toString());
        org.xipki.pkcs11.wrapper.attrs.Attribute value = raw.getAttrValues(
            s.rawHandleForBenchmark(k), PKCS11Constants.CKA_VALUE)
            .getAttribute(PKCS11Constants.CKA_VALUE);
        assertTrue(value == null || value.isSensitive() || value.getValue() == null,
            "the value of " + k + " was readable");
      }
    }
  }

  @Test
  void random_givesRequestedLength_andRefusesAbsurdLengths() throws Exception {
    try (HsmSession s = hsm.openSession()) {
      assertEquals(32, s.random(32).length);
      assertFalse(Arrays.equals(s.random(16), s.random(16)));
      assertThrows(HsmPolicyException.class, () -> s.random(0));
      assertThrows(HsmPolicyException.class, () -> s.random(1 << 20));
    }
  }

  @Test
  void toStrings_neverShowHandlesOrPins() throws Exception {
    String cfg = token.config().build().toString();
    assertFalse(cfg.contains(token.userPinForTest()));
    assertTrue(cfg.contains("<redacted>"));
    try (HsmSession s = hsm.openSession()) {
      KeyRef k = s.deriveKey(root, ctx("k"), GCM);
      assertEquals("KeyRef[session derived from test-root]", k.toString());
    }
  }
}
