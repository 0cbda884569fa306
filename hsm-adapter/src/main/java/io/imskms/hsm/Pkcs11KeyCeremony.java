package io.imskms.hsm;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.*;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xipki.pkcs11.wrapper.AttributeVector;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.PKCS11Module;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Slot;
import org.xipki.pkcs11.wrapper.Token;
import org.xipki.pkcs11.wrapper.params.AES_CBC_ENCRYPT_DATA_PARAMS;

/**
 * {@link KeyCeremony} over the IAIK/xipki wrapper, on one PKCS#11 session of its own.
 *
 * <p>PKCS#11 keeps one log-in state per application and token, so an EXPORT ceremony must be
 * opened (and {@linkplain #assemble assembled}) before anything else in this process logs in as
 * the user: the Security Officer logs in first, makes the components, the combined secret and the
 * trusted KEK as <em>public</em> session objects (an SO session cannot create private ones), logs
 * out (public session objects survive) and the user logs in. A {@link Pkcs11Hsm} opened afterwards
 * shares that log-in. Closing the ceremony destroys its objects; closing the adapter finalizes the
 * module, which destroys them too.
 */
public final class Pkcs11KeyCeremony implements KeyCeremony {
  private static final Logger LOG = LoggerFactory.getLogger(Pkcs11KeyCeremony.class);
  static final byte[] KEK_CONTEXT = "imskms/v1/backup-kek".getBytes(StandardCharsets.US_ASCII);
  static final byte[] MAC_CONTEXT = "imskms/v1/backup-mac".getBytes(StandardCharsets.US_ASCII);
  private static final KeySpec COMBINED =
      KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec MAC_KEY =
      KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN, KeyUsage.VERIFY);
  private static final long[] COMBINE_MECHANISMS = {CKM_AES_ECB_ENCRYPT_DATA,
      CKM_AES_CBC_ENCRYPT_DATA};

  private final HsmConfig cfg;
  private final Purpose purpose;
  private final PKCS11Module module;
  private final boolean finalizeOnClose;
  private final Session session;
  private final List<String> componentKcvs = new ArrayList<>();
  private final boolean publicObjects;
  private long combined = -1;
  private long kek = -1;
  private long macKey = -1;
  private boolean closed;

  private Pkcs11KeyCeremony(HsmConfig cfg, Purpose purpose, PKCS11Module module,
      boolean finalizeOnClose, Session session) {
    this.cfg = cfg;
    this.purpose = purpose;
    this.module = module;
    this.finalizeOnClose = finalizeOnClose;
    this.session = session;
    this.publicObjects = purpose == Purpose.EXPORT;
  }

  /**
   * Opens a ceremony on the token of {@code cfg}. EXPORT logs in the Security Officer with
   * {@code soPin} (the caller wipes it) and must come before any user log-in in this process;
   * IMPORT logs in the user with the configured PIN and needs no SO PIN.
   */
  public static Pkcs11KeyCeremony open(HsmConfig cfg, Purpose purpose, char[] soPin)
      throws HsmException {
    PKCS11Module module = Pkcs11Modules.get(cfg.modulePath());
    boolean initialisedHere = true;
    try {
      module.initialize();
    } catch (PKCS11Exception e) {
      if (e.getErrorCode() != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw new HsmUnavailableException("C_Initialize failed", e.getErrorCode(), e);
      }
      initialisedHere = false;
    }
    Session s = null;
    try {
      Token token = findToken(module, cfg.tokenLabel());
      s = token.openSession(true);
      if (purpose == Purpose.EXPORT) {
        if (soPin == null || soPin.length == 0) {
          throw new HsmPolicyException("an export needs the Security Officer: only an SO session"
              + " can make the trusted KEK that may wrap backup-capable keys");
        }
        try {
          s.login(CKU_SO, soPin);
        } catch (PKCS11Exception e) {
          if (e.getErrorCode() == CKR_USER_ANOTHER_ALREADY_LOGGED_IN
              || e.getErrorCode() == CKR_USER_ALREADY_LOGGED_IN) {
            throw new HsmPolicyException("the token is already logged in as the user in this"
                + " process: open the export ceremony before the adapter", e.getErrorCode(), e);
          }
          if (e.getErrorCode() == CKR_PIN_INCORRECT || e.getErrorCode() == CKR_PIN_LOCKED) {
            throw new HsmMisconfigurationException("the token refused the SO PIN ("
                + Ckr.name(e.getErrorCode()) + ")", e.getErrorCode(), e);
          }
          throw Ckr.translate(Ckr.Op.LOGIN, "Security Officer of '" + cfg.tokenLabel() + "'", e);
        }
      } else {
        loginUser(s, cfg);
      }
      Pkcs11KeyCeremony c = new Pkcs11KeyCeremony(cfg, purpose, module, initialisedHere, s);
      LOG.info("backup key ceremony ({}) opened on token '{}'", purpose, cfg.tokenLabel());
      return c;
    } catch (PKCS11Exception e) {
      closeQuietly(s, module, initialisedHere);
      throw Ckr.translate(Ckr.Op.SESSION, "token '" + cfg.tokenLabel() + "'", e);
    } catch (HsmException | RuntimeException e) {
      closeQuietly(s, module, initialisedHere);
      throw e;
    }
  }

  private static void loginUser(Session s, HsmConfig cfg) throws HsmException {
    char[] pin = cfg.userPin();
    try {
      s.login(CKU_USER, pin);
    } catch (PKCS11Exception e) {
      if (e.getErrorCode() != CKR_USER_ALREADY_LOGGED_IN) {
        throw Ckr.translate(Ckr.Op.LOGIN, "token '" + cfg.tokenLabel() + "'", e);
      }
    } finally {
      Arrays.fill(pin, '\0');
    }
  }

  private static Token findToken(PKCS11Module module, String label)
      throws PKCS11Exception, HsmException {
    for (Slot slot : module.getSlotList(true)) {
      if (label.equals(slot.getToken().getTokenInfo().getLabel().trim())) {
        return slot.getToken();
      }
    }
    throw new HsmMisconfigurationException("no token labelled '" + label + "'");
  }

  private static void closeQuietly(Session s, PKCS11Module module, boolean finalize) {
    if (s != null) {
      try {
        s.closeSession();
      } catch (PKCS11Exception | RuntimeException e) {
        LOG.trace("C_CloseSession: {}", e.toString());
      }
    }
    if (finalize) {
      try {
        module.finalize(null);
      } catch (PKCS11Exception | RuntimeException e) {
        LOG.trace("C_Finalize: {}", e.toString());
      }
    }
  }

  private void checkOpen() throws HsmPolicyException {
    if (closed) {
      throw new HsmPolicyException("the key ceremony is closed");
    }
  }

  private AttributeVector derivable(AttributeVector t) {
    return t.token(false).private_(!publicObjects).sensitive(true).extractable(false)
        .derive(true).encrypt(false).decrypt(false).sign(false).verify(false).wrap(false)
        .unwrap(false).allowedMechanisms(COMBINE_MECHANISMS);
  }

  @Override
  public String addComponent(byte[] component) throws HsmException {
    checkOpen();
    if (kek >= 0) {
      throw new HsmPolicyException("the KEK is already assembled; no more components");
    }
    if (component == null || component.length != COMPONENT_BYTES) {
      throw new HsmPolicyException("a key component is " + COMPONENT_BYTES + " bytes");
    }
    long obj = -1;
    try {
      obj = session.createObject(derivable(AttributeVector.newSecretKey(CKK_AES))
          .value(component));
      String kcv = Pkcs11Hsm.kcvOf(session, obj, COMBINED, publicObjects);
      if (componentKcvs.contains(kcv)) {
        throw new HsmPolicyException("component " + (componentKcvs.size() + 1) + " is the same as"
            + " component " + (componentKcvs.indexOf(kcv) + 1) + " (kcv " + kcv + ")");
      }
      if (combined < 0) {
        combined = obj; // S1 = c1
        obj = -1;
      } else {
        // S_i = AES-256-CBC(S_{i-1}, IV 0, c_i), inside the HSM
        long next = session.deriveKey(new Mechanism(CKM_AES_CBC_ENCRYPT_DATA,
                new AES_CBC_ENCRYPT_DATA_PARAMS(new byte[16], component)), combined,
            derivable(AttributeVector.newSecretKey(CKK_AES)).valueLen(32));
        session.destroyObject(combined);
        combined = next;
      }
      componentKcvs.add(kcv);
      LOG.info("key component {} entered, kcv {}", componentKcvs.size(), kcv);
      return kcv;
    } catch (PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.DERIVE, "key component " + (componentKcvs.size() + 1), e);
    } finally {
      if (obj >= 0) {
        destroyQuietly(obj);
      }
    }
  }

  @Override
  public int components() {
    return componentKcvs.size();
  }

  @Override
  public String assemble() throws HsmException {
    checkOpen();
    if (kek >= 0) {
      throw new HsmPolicyException("the KEK is already assembled");
    }
    if (componentKcvs.size() < 2) {
      throw new HsmPolicyException("dual control needs at least 2 key components; "
          + componentKcvs.size() + " entered");
    }
    try {
      String kcv = Pkcs11Hsm.kcvOf(session, combined, COMBINED, publicObjects);
      boolean export = purpose == Purpose.EXPORT;
      AttributeVector kekTemplate = AttributeVector.newSecretKey(CKK_AES).token(false)
          .valueLen(32).private_(!publicObjects).sensitive(true).extractable(false)
          .wrap(export).unwrap(!export).encrypt(false).decrypt(false).sign(false).verify(false)
          .derive(false).allowedMechanisms(new long[] {CKM_AES_KEY_WRAP_PAD});
      if (export) {
        kekTemplate.trusted(true);
      }
      kek = session.deriveKey(Pkcs11Hsm.deriveMechanism(KEK_CONTEXT), combined, kekTemplate);
      macKey = session.deriveKey(Pkcs11Hsm.deriveMechanism(MAC_CONTEXT), combined,
          Templates.sessionKey(MAC_KEY, false).private_(!publicObjects));
      session.destroyObject(combined);
      combined = -1;
      if (export) {
        // Public session objects survive the SO's log-out; the user's log-in follows.
        session.logout();
        loginUser(session, cfg);
      }
      LOG.info("backup KEK assembled from {} components, kcv {}", componentKcvs.size(), kcv);
      return kcv;
    } catch (PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.DERIVE, "backup KEK", e);
    }
  }

  private void checkAssembled(Purpose needed) throws HsmPolicyException {
    checkOpen();
    if (kek < 0) {
      throw new HsmPolicyException("the KEK is not assembled yet");
    }
    if (needed != null && needed != purpose) {
      throw new HsmPolicyException("this ceremony's KEK is for " + purpose + ", not " + needed);
    }
  }

  private long findSecret(String id) throws PKCS11Exception, HsmException {
    long[] found = session.findObjectsSingle(new AttributeVector().class_(CKO_SECRET_KEY)
        .token(true).label(id), 2);
    if (found.length > 1) {
      throw new HsmMisconfigurationException("two keys labelled " + id + " in token '"
          + cfg.tokenLabel() + "'");
    }
    return found.length == 0 ? -1 : found[0];
  }

  private AttributeVector attributes(long handle) throws PKCS11Exception {
    return session.getAttrValues(handle, CKA_KEY_TYPE, CKA_VALUE_LEN, CKA_SENSITIVE,
        CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL, CKA_MODIFIABLE,
        CKA_DERIVE, CKA_SIGN, CKA_VERIFY, CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP,
        CKA_WRAP_WITH_TRUSTED);
  }

  @Override
  public ExportedKey exportLongTermKey(String label, int version) throws HsmException {
    checkAssembled(Purpose.EXPORT);
    String id = Pkcs11Hsm.id(label, version);
    try {
      long h = findSecret(id);
      if (h < 0) {
        throw new KeyNotFoundException("no key " + id + " in token '" + cfg.tokenLabel() + "'");
      }
      AttributeVector a = attributes(h);
      if (Boolean.FALSE.equals(a.extractable())) {
        throw new HsmPolicyException(id + " cannot be exported: it is CKA_EXTRACTABLE=false"
            + " (generated never extractable, before core.keyBackup was true); no PKCS#11"
            + " operation can ever take it out of this token");
      }
      String why = Pkcs11Hsm.extractionPolicyViolation(a);
      if (why != null) {
        throw new HsmPolicyException(id + " cannot be exported: it " + why);
      }
      boolean local = Boolean.TRUE.equals(a.local()) && Boolean.TRUE.equals(a.alwaysSensitive());
      KeySpec spec = Pkcs11Hsm.specOf(id, a, !local);
      String kcv = Pkcs11Hsm.kcvOf(session, h, spec, false);
      byte[] blob = session.wrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD), kek, h);
      return new ExportedKey(spec, kcv, blob);
    } catch (PKCS11Exception e) {
      if (e.getErrorCode() == CKR_KEY_NOT_WRAPPABLE) {
        throw new HsmPolicyException(id + " cannot be exported: the token refuses to wrap it"
            + " under the ceremony's KEK (CKR_KEY_NOT_WRAPPABLE: the KEK is not trusted)",
            e.getErrorCode(), e);
      }
      throw Ckr.translate(Ckr.Op.WRAP, id, e);
    }
  }

  @Override
  public Optional<String> tokenKeyKcv(String label, int version) throws HsmException {
    checkOpen();
    String id = Pkcs11Hsm.id(label, version);
    try {
      long h = findSecret(id);
      if (h < 0) {
        return Optional.empty();
      }
      AttributeVector a = attributes(h);
      boolean local = Boolean.TRUE.equals(a.local()) && Boolean.TRUE.equals(a.alwaysSensitive());
      return Optional.of(Pkcs11Hsm.kcvOf(session, h, Pkcs11Hsm.specOf(id, a, !local), false));
    } catch (PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.FIND, id, e);
    }
  }

  private static KeySpec longTermSpec(KeySpec spec) throws HsmPolicyException {
    boolean deriveRoot = spec.usages().equals(java.util.EnumSet.of(KeyUsage.DERIVE))
        && spec.algorithm() == KeyAlgorithm.AES_256;
    boolean macKey = spec.algorithm() == KeyAlgorithm.HMAC_SHA256;
    if (spec.extractable() || !(deriveRoot || macKey)) {
      throw new HsmPolicyException("a restored long-term key is an AES-256 DERIVE root or an"
          + " HMAC-SHA-256 key; got " + spec);
    }
    return spec;
  }

  @Override
  public String trialUnwrap(KeySpec spec, byte[] wrapped) throws HsmException {
    checkAssembled(Purpose.IMPORT);
    longTermSpec(spec);
    long h = -1;
    try {
      h = session.unwrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD), kek, wrapped,
          Templates.unwrappedKey(spec, false));
      return Pkcs11Hsm.kcvOf(session, h, spec, false);
    } catch (PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.UNWRAP, "backup key", e);
    } finally {
      if (h >= 0) {
        destroyQuietly(h);
      }
    }
  }

  @Override
  public void restoreLongTermKey(String label, int version, KeySpec spec, byte[] wrapped,
      String expectedKcv, boolean backupCapable) throws HsmException {
    checkAssembled(Purpose.IMPORT);
    longTermSpec(spec);
    String id = Pkcs11Hsm.id(label, version);
    long h = -1;
    String step = "find";
    try {
      if (findSecret(id) >= 0) {
        throw new HsmPolicyException("key " + id + " already exists in token '"
            + cfg.tokenLabel() + "'");
      }
      step = "unwrap";
      h = session.unwrapKey(new Mechanism(CKM_AES_KEY_WRAP_PAD), kek, wrapped,
          Templates.restoredLongTermKey(id, spec, cfg.deriveTemplateSupported(), backupCapable));
      step = "kcv";
      String kcv = Pkcs11Hsm.kcvOf(session, h, spec, false);
      if (!kcv.equalsIgnoreCase(expectedKcv)) {
        throw new HsmIntegrityException("restored " + id + " has key check value " + kcv
            + ", not " + expectedKcv);
      }
      LOG.info("restored long-term key {} ({}{}), kcv {}", id, spec,
          backupCapable ? ", backup-capable" : ", never extractable", kcv);
      h = -1; // keep it
    } catch (PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.UNWRAP, id + " (" + step + ")", e);
    } finally {
      if (h >= 0) {
        destroyQuietly(h);
      }
    }
  }

  @Override
  public byte[] mac(byte[] data) throws HsmException {
    checkAssembled(null);
    try {
      return session.signSingle(new Mechanism(CKM_SHA256_HMAC), macKey, data);
    } catch (PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.SIGN, "backup file MAC", e);
    }
  }

  @Override
  public void verifyMac(byte[] data, byte[] tag) throws HsmException {
    checkAssembled(null);
    try {
      session.verifySingle(new Mechanism(CKM_SHA256_HMAC), macKey, data, tag);
    } catch (PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.VERIFY, "backup file MAC", e);
    }
  }

  private void destroyQuietly(long h) {
    try {
      session.destroyObject(h);
    } catch (PKCS11Exception | RuntimeException e) {
      LOG.trace("C_DestroyObject: {}", e.toString());
    }
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (long h : new long[] {combined, kek, macKey}) {
      if (h >= 0) {
        destroyQuietly(h);
      }
    }
    closeQuietly(session, module, finalizeOnClose);
  }

  @Override
  public String toString() {
    return "Pkcs11KeyCeremony[" + purpose + ", token=" + cfg.tokenLabel() + ", components="
        + componentKcvs.size() + (kek >= 0 ? ", assembled" : "") + "]";
  }
}
