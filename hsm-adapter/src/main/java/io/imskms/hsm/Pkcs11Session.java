package io.imskms.hsm;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.*;

import java.util.ArrayList;
import java.util.List;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.PKCS11KeyPair;
import org.xipki.pkcs11.wrapper.params.ECDH1_DERIVE_PARAMS;
import org.xipki.pkcs11.wrapper.params.GCM_PARAMS;

/** One borrowed PKCS#11 session; see {@link HsmSession}. */
final class Pkcs11Session implements HsmSession {
  static final int GCM_IV_BYTES = 12;
  static final int GCM_TAG_BYTES = 16;
  private static final int MAX_RANDOM = 1024;
  private static final byte[] EMPTY = new byte[0];

  private final Pkcs11Hsm hsm;
  private final Generation g;
  private final Session s;
  private final boolean deriveTemplate;
  /** Handles of the session objects this session created and has not destroyed yet. */
  private final List<KeyRef> live = new ArrayList<>(4);
  /** Shared keys this session holds a reference to: the reference handed out, its entry. */
  private record Held(KeyRef ref, SharedKeys.Entry entry) {}

  private final List<Held> held = new ArrayList<>(2);
  private final Thread opener = Thread.currentThread();
  private boolean broken;
  private boolean closed;

  Pkcs11Session(Pkcs11Hsm hsm, Generation g, Session s, boolean deriveTemplate) {
    this.hsm = hsm;
    this.g = g;
    this.s = s;
    this.deriveTemplate = deriveTemplate;
  }

  @FunctionalInterface
  private interface Call<T> {
    T call() throws PKCS11Exception;
  }

  private <T> T run(Ckr.Op op, KeyRef key, Call<T> call) throws HsmException {
    try {
      return call.call();
    } catch (PKCS11Exception e) {
      HsmException he = Ckr.translate(op, key == null ? "" : key.toString(), e);
      if (Ckr.meansTokenLost(e.getErrorCode())) {
        broken = true;
        hsm.markBroken(g, he);
      } else if (e.getErrorCode() == CKR_OPERATION_ACTIVE
          || e.getErrorCode() == CKR_ARGUMENTS_BAD) {
        // The token may have left an operation open on this session: do not reuse it.
        broken = true;
      }
      throw he;
    }
  }

  private void checkOpen() throws HsmException {
    if (closed) {
      throw new HsmPolicyException("HsmSession is closed");
    }
    if (g.broken) {
      throw new HsmUnavailableException("HSM unavailable (module generation " + g.number
          + " was lost)");
    }
  }

  /** Checks the reference is usable here and for this purpose, and returns its handle. */
  private long use(KeyRef key, KeyUsage usage) throws HsmException {
    checkOpen();
    if (!key.spec().allows(usage)) {
      throw new HsmPolicyException(key + " does not allow " + usage);
    }
    return handleOf(key);
  }

  private KeyRef track(long handle, String origin, KeySpec spec) {
    g.objectsCreated.incrementAndGet();
    KeyRef ref = KeyRef.session(origin, spec, g.number, handle, this);
    live.add(ref);
    return ref;
  }

  @Override
  public KeyRef deriveKey(KeyRef base, byte[] context, KeySpec spec) throws HsmException {
    long h = deriveBase(base, context, spec);
    long out = run(Ckr.Op.DERIVE, base, () -> s.deriveKey(Pkcs11Hsm.deriveMechanism(context), h,
        Templates.sessionKey(spec, deriveTemplate)));
    return track(out, "derived from " + base.label(), spec);
  }

  /** The checks of a derivation; returns the base key's handle. */
  private long deriveBase(KeyRef base, byte[] context, KeySpec spec) throws HsmException {
    long h = use(base, KeyUsage.DERIVE);
    if (context == null || context.length == 0) {
      throw new HsmPolicyException("a derivation needs a non-empty context");
    }
    if (!base.spec().algorithm().isAes()) {
      throw new HsmPolicyException(base + " is not an AES derive root");
    }
    if (spec.algorithm() == KeyAlgorithm.AES_192 || spec.algorithm() == KeyAlgorithm.EC_P256) {
      throw new HsmPolicyException("derived keys are AES-128/256 or HMAC keys");
    }
    return h;
  }

  @Override
  public KeyRef deriveShared(KeyRef base, byte[] context, KeySpec spec, byte[] name,
      long notAfterMillis) throws HsmException {
    SharedKeys cache = g.shared;
    if (cache == null) {
      return deriveKey(base, context, spec);
    }
    SharedKeys.Name n = sharedName(name);
    long h = deriveBase(base, context, spec);
    SharedKeys.Keeper keeper = cache.keeperForCurrentThread();
    long out;
    synchronized (keeper) {
      // The keeper session owns the new object, so that it outlives this session.
      out = run(Ckr.Op.DERIVE, base, () -> keeper.session.deriveKey(
          Pkcs11Hsm.deriveMechanism(context), h, Templates.sessionKey(spec, deriveTemplate)));
    }
    g.objectsCreated.incrementAndGet();
    SharedKeys.Entry e = new SharedKeys.Entry(n, out, spec, notAfterMillis, keeper);
    List<SharedKeys.Entry> evicted = new ArrayList<>(1);
    cache.put(e, evicted);
    destroyShared(evicted);
    return holdShared(e, "shared, derived from " + base.label());
  }

  @Override
  public KeyRef findShared(byte[] name) throws HsmException {
    checkOpen();
    SharedKeys cache = g.shared;
    if (cache == null) {
      return null;
    }
    List<SharedKeys.Entry> expired = new ArrayList<>(0);
    SharedKeys.Entry e = cache.acquire(sharedName(name), System.currentTimeMillis(), expired);
    destroyShared(expired);
    return e == null ? null : holdShared(e, "shared");
  }

  private static SharedKeys.Name sharedName(byte[] name) throws HsmPolicyException {
    if (name == null || name.length == 0) {
      throw new HsmPolicyException("a shared key needs a non-empty name");
    }
    return new SharedKeys.Name(name);
  }

  private KeyRef holdShared(SharedKeys.Entry e, String origin) {
    KeyRef ref = KeyRef.session(origin, e.spec, g.number, e.handle, this);
    held.add(new Held(ref, e));
    return ref;
  }

  /** Destroys removed shared keys nobody uses any more; a failure leaves the object counted. */
  private void destroyShared(List<SharedKeys.Entry> entries) {
    for (SharedKeys.Entry e : entries) {
      if (g.broken) {
        return; // C_Finalize takes them with the generation
      }
      try {
        SharedKeys.destroy(e);
        g.objectsDestroyed.incrementAndGet();
      } catch (PKCS11Exception ex) {
        if (Ckr.meansTokenLost(ex.getErrorCode())) {
          hsm.markBroken(g, Ckr.translate(Ckr.Op.DESTROY, "a shared key", ex));
        }
      }
    }
  }

  /** The index of a shared key's reference in {@link #held}, or -1. */
  private int heldIndex(KeyRef key) {
    for (int i = 0; i < held.size(); i++) {
      if (held.get(i).ref() == key) {
        return i;
      }
    }
    return -1;
  }

  /** Releases this session's reference to the shared key at index i. */
  private void releaseShared(int i) {
    SharedKeys.Entry e = held.remove(i).entry();
    if (g.shared.release(e)) {
      destroyShared(List.of(e));
    }
  }

  @Override
  public byte[] wrapKey(KeyRef kek, KeyRef key, WrapMode mode) throws HsmException {
    long kh = use(kek, KeyUsage.WRAP);
    if (!key.spec().extractable()) {
      throw new HsmPolicyException(key + " is not wrappable");
    }
    long th = handleOf(key);
    return run(Ckr.Op.WRAP, kek, () -> s.wrapKey(wrapMechanism(mode), kh, th));
  }

  private long handleOf(KeyRef key) throws HsmException {
    return key.kind() == KeyRef.Kind.SESSION ? sessionHandle(key) : hsm.handleOf(g, key);
  }

  private long sessionHandle(KeyRef key) throws HsmException {
    if (key.owner != this || key.generation != g.number
        || !(live.contains(key) || heldIndex(key) >= 0)) {
      throw new HsmPolicyException(key + " is stale: it belongs to another, closed or"
          + " re-initialised HSM session");
    }
    return key.handle;
  }

  @Override
  public KeyRef unwrapKey(KeyRef kek, byte[] wrapped, WrapMode mode, KeySpec spec)
      throws HsmException {
    long kh = use(kek, KeyUsage.UNWRAP);
    if (wrapped == null || wrapped.length != spec.algorithm().lengthBytes() + 8) {
      // KW and KWP of a 16/24/32-byte key are exactly 8 bytes longer than the key.
      throw new HsmIntegrityException("wrapped key has the wrong length for " + spec);
    }
    long out = run(Ckr.Op.UNWRAP, kek, () -> s.unwrapKey(wrapMechanism(mode), kh, wrapped,
        Templates.unwrappedKey(spec, deriveTemplate)));
    KeyRef ref = track(out, "unwrapped under " + kek.label(), spec);
    if (mode == WrapMode.KWP) {
      // A KWP blob of the right size may hold a shorter key (RFC 5649 padding). Tokens that
      // report CKA_VALUE_LEN let us refuse it; SoftHSM2 reports 0 (docs/architecture.md), which
      // is why the protocol only ever unwraps KW blobs, whose length pins the key's.
      Integer len = run(Ckr.Op.UNWRAP, kek, () -> s.getAttrValues(out, CKA_VALUE_LEN).valueLen());
      if (len != null && len != 0 && len != spec.algorithm().lengthBytes()) {
        destroy(ref);
        throw new HsmIntegrityException("KWP blob holds a " + len + "-byte key, not " + spec);
      }
    }
    return ref;
  }

  static Mechanism wrapMechanism(WrapMode mode) {
    return new Mechanism(mode == WrapMode.KW ? CKM_AES_KEY_WRAP : CKM_AES_KEY_WRAP_PAD);
  }

  static Mechanism gcm(byte[] iv, byte[] aad) {
    return new Mechanism(CKM_AES_GCM, new GCM_PARAMS(iv, aad == null ? EMPTY : aad,
        GCM_TAG_BYTES * 8));
  }

  private static void checkIv(byte[] iv) throws HsmPolicyException {
    if (iv == null || iv.length != GCM_IV_BYTES) {
      throw new HsmPolicyException("AES-GCM IVs are 12 bytes");
    }
  }

  @Override
  public byte[] encryptGcm(KeyRef key, byte[] iv, byte[] aad, byte[] plaintext)
      throws HsmException {
    long h = use(key, KeyUsage.ENCRYPT);
    checkIv(iv);
    if (plaintext == null || plaintext.length == 0) {
      // Empty input reaches C_Encrypt as a NULL pointer: SoftHSM2 answers CKR_ARGUMENTS_BAD and
      // leaves the operation active, so the pooled session then fails every call with
      // CKR_OPERATION_ACTIVE. C_EncryptInit + C_EncryptFinal is the same computation.
      return run(Ckr.Op.ENCRYPT, key, () -> {
        s.encryptInit(gcm(iv, aad), h);
        return s.encryptFinal();
      });
    }
    return run(Ckr.Op.ENCRYPT, key, () -> s.encryptSingle(gcm(iv, aad), h, plaintext));
  }

  @Override
  public byte[] decryptGcm(KeyRef key, byte[] iv, byte[] aad, byte[] ciphertextAndTag)
      throws HsmException {
    long h = use(key, KeyUsage.DECRYPT);
    checkIv(iv);
    if (ciphertextAndTag == null || ciphertextAndTag.length < GCM_TAG_BYTES) {
      throw new HsmIntegrityException("AES-GCM ciphertext shorter than its tag");
    }
    return run(Ckr.Op.DECRYPT, key, () -> s.decryptSingle(gcm(iv, aad), h, ciphertextAndTag));
  }

  @Override
  public byte[] sign(KeyRef key, byte[] data) throws HsmException {
    long h = use(key, KeyUsage.SIGN);
    if (data == null || data.length == 0) {
      // Empty data: as in encryptGcm, C_SignInit + C_SignFinal instead of a NULL C_Sign.
      return run(Ckr.Op.SIGN, key, () -> {
        s.signInit(Pkcs11Hsm.macMechanism(key.spec()), h);
        return s.signFinal();
      });
    }
    return run(Ckr.Op.SIGN, key, () -> s.signSingle(Pkcs11Hsm.macMechanism(key.spec()), h,
        data));
  }

  @Override
  public void verify(KeyRef key, byte[] data, byte[] tag) throws HsmException {
    long h = use(key, KeyUsage.VERIFY);
    int expected = key.spec().algorithm().isAes() ? 16 : 32;
    if (tag == null || tag.length != expected) {
      throw new HsmIntegrityException("MAC tag must be " + expected + " bytes");
    }
    run(Ckr.Op.VERIFY, key, () -> {
      if (data == null || data.length == 0) {
        // Empty data: as in encryptGcm, C_VerifyInit + C_VerifyFinal instead of a NULL C_Verify.
        s.verifyInit(Pkcs11Hsm.macMechanism(key.spec()), h);
        s.verifyFinal(tag);
      } else {
        s.verifySingle(Pkcs11Hsm.macMechanism(key.spec()), h, data, tag);
      }
      return null;
    });
  }

  @Override
  public byte[] random(int length) throws HsmException {
    checkOpen();
    if (length < 1 || length > MAX_RANDOM) {
      throw new HsmPolicyException("random length must be 1.." + MAX_RANDOM);
    }
    return run(Ckr.Op.RANDOM, null, () -> s.generateRandom(length));
  }

  @Override
  public KeyRef generateKey(KeySpec spec) throws HsmException {
    checkOpen();
    if (spec.algorithm() == KeyAlgorithm.EC_P256 || spec.algorithm() == KeyAlgorithm.AES_192) {
      throw new HsmPolicyException("generated session keys are AES-128/256 or HMAC keys");
    }
    long mech = spec.algorithm().isAes() ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN;
    long out = run(Ckr.Op.GENERATE, null, () -> s.generateKey(new Mechanism(mech),
        Templates.sessionKey(spec, deriveTemplate)));
    return track(out, "generated", spec);
  }

  @Override
  public EcKeyPair generateEcKeyPair() throws HsmException {
    checkOpen();
    PKCS11KeyPair kp = run(Ckr.Op.GENERATE, null, () -> s.generateKeyPair(
        new Mechanism(CKM_EC_KEY_PAIR_GEN), Templates.ephemeralEcKeyPair(EC_PRIVATE)));
    KeyRef publicRef = track(kp.getPublicKey(), "ephemeral EC public", EC_PRIVATE);
    KeyRef privateRef = track(kp.getPrivateKey(), "ephemeral EC private", EC_PRIVATE);
    byte[] der = run(Ckr.Op.GENERATE, null,
        () -> s.getAttrValues(kp.getPublicKey(), CKA_EC_POINT).ecPoint());
    destroy(publicRef);
    return new EcKeyPair(privateRef, EcPoints.unwrapDerOctetString(der));
  }

  @Override
  public KeyRef deriveEcdh(KeyRef privateKey, byte[] peerPublicPoint, KeySpec spec)
      throws HsmException {
    long h = use(privateKey, KeyUsage.DERIVE);
    if (privateKey.spec().algorithm() != KeyAlgorithm.EC_P256) {
      throw new HsmPolicyException(privateKey + " is not an EC private key");
    }
    if (spec.algorithm() != KeyAlgorithm.AES_256) {
      throw new HsmPolicyException("the ECDH shared secret becomes an AES-256 key");
    }
    EcPoints.checkP256(peerPublicPoint);
    long out = run(Ckr.Op.DERIVE, privateKey, () -> s.deriveKey(new Mechanism(CKM_ECDH1_DERIVE,
        new ECDH1_DERIVE_PARAMS(CKD_NULL, null, peerPublicPoint.clone())), h,
        Templates.sessionKey(spec, deriveTemplate)));
    return track(out, "ECDH shared secret", spec);
  }

  private static final KeySpec EC_PRIVATE = KeySpec.of(KeyAlgorithm.EC_P256, KeyUsage.DERIVE);

  @Override
  public void destroy(KeyRef sessionKey) throws HsmException {
    checkOpen();
    if (sessionKey.kind() != KeyRef.Kind.SESSION) {
      throw new HsmPolicyException("long-term keys are not destroyed through a session");
    }
    long h = sessionHandle(sessionKey);
    int shared = heldIndex(sessionKey);
    if (shared >= 0) {
      releaseShared(shared);
      return;
    }
    run(Ckr.Op.DESTROY, sessionKey, () -> {
      s.destroyObject(h);
      return null;
    });
    g.objectsDestroyed.incrementAndGet();
    live.remove(sessionKey);
  }

  /**
   * Imports a key in the clear as a session object. Only for the conformance self-test, which
   * runs published test vectors through the token; the KMS itself never imports a clear key.
   * An AES key must be CKK_AES and exactly as long as its spec says (SoftHSM2 itself accepts any
   * length); an HMAC key must be CKK_GENERIC_SECRET and non-empty, of any length, because HMAC
   * test vectors use keys shorter and longer than the KMS's 32 bytes.
   */
  KeyRef importCleartextKeyForSelfTest(long keyType, byte[] value, KeySpec spec)
      throws HsmException {
    checkOpen();
    boolean aes = spec.algorithm().isAes();
    if (value == null || keyType != (aes ? CKK_AES : CKK_GENERIC_SECRET)
        || (aes ? value.length != spec.algorithm().lengthBytes() : value.length == 0)) {
      throw new HsmPolicyException("a " + (value == null ? 0 : value.length) + "-byte key of"
          + " type 0x" + Long.toHexString(keyType) + " does not fit " + spec);
    }
    long out = run(Ckr.Op.GENERATE, null,
        () -> s.createObject(Templates.importedSessionKey(keyType, value, spec)));
    return track(out, "self-test import", spec);
  }

  /** The raw session, for the side-by-side benchmark of direct wrapper calls only. */
  Session rawSessionForBenchmark() {
    return s;
  }

  /** The raw handle of a key, for the side-by-side benchmark of direct wrapper calls only. */
  long rawHandleForBenchmark(KeyRef key) throws HsmException {
    return handleOf(key);
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    if (Thread.currentThread() != opener) {
      // The gate's read lock belongs to the opening thread; unlocking elsewhere would fail after
      // the PKCS#11 session had already gone back to the pool.
      throw new IllegalStateException("an HsmSession must be closed by the thread that opened it");
    }
    closed = true;
    int left = live.size();
    try {
      for (KeyRef k : live) {
        if (broken || g.broken) {
          break; // the module is being re-initialised: C_Finalize destroys every session object
        }
        try {
          s.destroyObject(k.handle);
          g.objectsDestroyed.incrementAndGet();
          left--;
        } catch (PKCS11Exception e) {
          if (Ckr.meansTokenLost(e.getErrorCode())) {
            broken = true;
            hsm.markBroken(g, Ckr.translate(Ckr.Op.DESTROY, k.toString(), e));
          } else {
            broken = true; // an object we cannot destroy: do not reuse this session
          }
        }
      }
    } catch (RuntimeException e) {
      broken = true;
      throw e;
    } finally {
      live.clear();
      try {
        while (!held.isEmpty()) {
          releaseShared(held.size() - 1);
        }
      } finally {
        hsm.release(g, s, broken, left);
      }
    }
  }


  @Override
  public String toString() {
    return "HsmSession[generation " + g.number + ", " + live.size() + " live keys, "
        + held.size() + " shared]";
  }
}
