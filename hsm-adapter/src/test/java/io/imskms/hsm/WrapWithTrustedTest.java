package io.imskms.hsm;

import static org.junit.jupiter.api.Assertions.*;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.*;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.xipki.pkcs11.wrapper.AttributeVector;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.PKCS11Module;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Slot;
import org.xipki.pkcs11.wrapper.Token;
import org.xipki.pkcs11.wrapper.params.AES_CBC_ENCRYPT_DATA_PARAMS;

/**
 * Pins what SoftHSM2 2.6.1 enforces of the backup design (docs/architecture.md, "Backup under dual
 * control"), through the raw wrapper: a long-term key made CKA_EXTRACTABLE=true with
 * CKA_WRAP_WITH_TRUSTED=true can be wrapped only under a CKA_TRUSTED key, CKA_TRUSTED can only be
 * set in a Security Officer session, and the attribute cannot be dropped afterwards.
 */
class WrapWithTrustedTest {
  private static SoftHsmTestToken token;
  private static PKCS11Module module;
  private static Token tok;

  @BeforeAll
  static void setUp() throws Exception {
    token = SoftHsmTestToken.create();
    module = Pkcs11Modules.get(token.module());
    try {
      module.initialize();
    } catch (PKCS11Exception e) {
      assertEquals(CKR_CRYPTOKI_ALREADY_INITIALIZED, e.getErrorCode());
    }
    for (Slot s : module.getSlotList(true)) {
      if (s.getToken().getTokenInfo().getLabel().trim().equals(token.label())) {
        tok = s.getToken();
      }
    }
    assertNotNull(tok);
  }

  @AfterAll
  static void tearDown() throws Exception {
    module.finalize(null);
    token.close();
  }

  private static AttributeVector backupCapable(String label) {
    return AttributeVector.newSecretKey(CKK_AES).token(true).label(label).valueLen(32)
        .private_(true).sensitive(true).extractable(true).wrapWithTrusted(true)
        .modifiable(false).copyable(false).derive(true).encrypt(false).decrypt(false)
        .sign(false).verify(false).wrap(false).unwrap(false)
        .allowedMechanisms(new long[] {CKM_AES_ECB_ENCRYPT_DATA});
  }

  /** Without CKA_VALUE_LEN (refused on C_CreateObject); CKA_TRUSTED only when true. */
  private static AttributeVector kek(boolean trusted) {
    AttributeVector t = AttributeVector.newSecretKey(CKK_AES).token(false).private_(false)
        .sensitive(true).extractable(false).wrap(true).unwrap(true)
        .encrypt(false).decrypt(false).sign(false).verify(false).derive(false)
        .allowedMechanisms(new long[] {CKM_AES_KEY_WRAP_PAD});
    return trusted ? t.trusted(true) : t;
  }

  private static long ckr(Executable call) {
    try {
      call.run();
      return CKR_OK;
    } catch (PKCS11Exception e) {
      return e.getErrorCode();
    }
  }

  @FunctionalInterface
  private interface Executable {
    void run() throws PKCS11Exception;
  }

  @Test
  void wrapWithTrusted_isEnforced_andTrustedNeedsTheSecurityOfficer() throws Exception {
    char[] so = token.soPinForTest();
    Session s = tok.openSession(true);
    try {
      s.login(CKU_USER, token.userPinForTest().toCharArray());
      long key = s.generateKey(new Mechanism(CKM_AES_KEY_GEN), backupCapable("probe#v1"));
      AttributeVector a = s.getAttrValues(key, CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED,
          CKA_SENSITIVE, CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE);
      assertEquals(Boolean.TRUE, a.wrapWithTrusted());
      assertEquals(Boolean.TRUE, a.local());
      assertEquals(Boolean.TRUE, a.alwaysSensitive());
      assertEquals(Boolean.FALSE, a.neverExtractable());

      // A user cannot make a trusted key, by generation or import.
      assertNotEquals(CKR_OK, ckr(() -> s.generateKey(new Mechanism(CKM_AES_KEY_GEN), kek(true).valueLen(32))));
      assertNotEquals(CKR_OK, ckr(() -> s.createObject(kek(true).value(new byte[32]))));
      // A key of the user's own (value known) cannot wrap it out.
      long userKek = s.createObject(kek(false).value(new byte[32]));
      assertEquals(CKR_KEY_NOT_WRAPPABLE, ckr(() -> s.wrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD),
          userKek, key)));
      // Nor can the attribute be dropped, nor the key be copied without it.
      assertNotEquals(CKR_OK, ckr(() -> s.setAttributeValues(key,
          new AttributeVector().wrapWithTrusted(false))));
      assertNotEquals(CKR_OK, ckr(() -> s.copyObject(key,
          new AttributeVector().wrapWithTrusted(false))));
      s.logout();

      // The Security Officer: a public session key, trusted, made by derivation (the KEK).
      s.login(CKU_SO, so);
      long component = s.createObject(AttributeVector.newSecretKey(CKK_AES).token(false)
          .private_(false).value(new byte[] {
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
            17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})
          .sensitive(true).extractable(false).derive(true).encrypt(false).decrypt(false)
          .sign(false).verify(false).wrap(false).unwrap(false)
          .allowedMechanisms(new long[] {CKM_AES_CBC_ENCRYPT_DATA}));
      long trusted = s.deriveKey(new Mechanism(CKM_AES_CBC_ENCRYPT_DATA,
          new AES_CBC_ENCRYPT_DATA_PARAMS(new byte[16], new byte[32])), component, kek(true).valueLen(32));
      assertEquals(Boolean.TRUE, s.getAttrValues(trusted, CKA_TRUSTED).trusted());
      // The SO cannot use the user's private keys.
      assertNotEquals(CKR_OK, ckr(() -> s.wrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD), trusted,
          key)));
      s.logout();

      // Back as the user: the public session KEK survived the SO's log-out, and it may wrap.
      // Handles of private objects die with a log-out (PKCS#11 C_Logout): find the key again.
      s.login(CKU_USER, token.userPinForTest().toCharArray());
      assertEquals(CKR_KEY_HANDLE_INVALID, ckr(() -> s.wrapKey(
          new Mechanism(CKM_AES_KEY_WRAP_PAD), trusted, key)));
      long again = s.findObjectsSingle(new AttributeVector().class_(CKO_SECRET_KEY)
          .label("probe#v1"), 2)[0];
      byte[] blob = s.wrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD), trusted, again);
      assertEquals(40, blob.length);
      long back = s.unwrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD), trusted, blob,
          AttributeVector.newSecretKey(CKK_AES).token(false).private_(true).sensitive(true)
              .extractable(true).wrapWithTrusted(true).derive(true).encrypt(false)
              .decrypt(false).sign(false).verify(false).wrap(false).unwrap(false));
      AttributeVector b = s.getAttrValues(back, CKA_LOCAL, CKA_ALWAYS_SENSITIVE,
          CKA_NEVER_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED);
      assertEquals(Boolean.FALSE, b.local());
      assertEquals(Boolean.FALSE, b.alwaysSensitive());
      assertEquals(Boolean.FALSE, b.neverExtractable());
      assertEquals(Boolean.TRUE, b.wrapWithTrusted());
      s.destroyObject(again);
    } finally {
      s.closeSession();
    }
  }
}
