package io.imskms.hsm;

import java.math.BigInteger;
import java.security.AlgorithmParameters;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Pattern;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.bouncycastle.crypto.engines.AESEngine;
import org.bouncycastle.crypto.macs.CMac;
import org.bouncycastle.crypto.params.KeyParameter;

/**
 * <b>INSECURE. TESTS ONLY.</b> An {@link Hsm} whose keys are plain byte arrays in this JVM's heap,
 * for fast unit tests of the KMS's protocol logic (kms-core's request checks, and mutation testing
 * of them, which runs many test classes in one JVM where a SoftHSM2 token cannot be created per
 * class). It is <em>not a security boundary</em>: nothing here is sensitive, nothing is erased, and
 * it lives in kms-core's test sources so that no main class, no server and no distribution can
 * ever load it. It is never the proof that a feature works: every feature keeps its test on a real
 * SoftHSM2 token through PKCS#11, and {@code SoftwareHsmCrossCheckTest} runs the same flow on both
 * and compares the outcomes byte for byte.
 *
 * <p>What it does mirror, so that a test on it still means something:
 * <ul>
 *   <li>the computations, with the PKCS#11 mechanisms' exact semantics: derivation is
 *       CKM_AES_ECB_ENCRYPT_DATA over SHA-256(context) (the first L bytes of
 *       AES-ECB(base, SHA-256(context))), wrapping is RFC 3394 KW / RFC 5649 KWP, AES-GCM with
 *       12-byte IVs and 16-byte tags, HMAC-SHA-256, AES-CMAC (Bouncy Castle), P-256 ECDH whose
 *       X coordinate becomes the key (CKD_NULL), Ed25519 (pure), and the KCV of
 *       {@link Pkcs11Hsm}; the same key material gives the same bytes as on the token;
 *   <li>the key attributes the adapter enforces: a key is used only for a usage of its
 *       {@link KeySpec} (CKA_DERIVE/WRAP/UNWRAP/ENCRYPT/DECRYPT/SIGN/VERIFY), only extractable keys
 *       are wrapped, long-term keys are never extractable and only DERIVE roots or MAC keys, a
 *       session key is usable only in the session that made it and only until it is destroyed or
 *       the session closes, MAC tags are full length, wrapped blobs have the length of their key;
 *   <li>the refusals' kinds: a wrong tag or a wrapped key made under another KEK is
 *       {@link HsmIntegrityException}, a usage or length the policy forbids
 *       {@link HsmPolicyException}, an unknown label {@link KeyNotFoundException}, a closed HSM
 *       {@link HsmUnavailableException};
 *   <li>the session discipline: one open session per thread, closed by the thread that opened
 *       it, its keys destroyed at close; counters of sessions, session objects and operations.
 * </ul>
 * What it does not mirror: the token's pool limits and timeouts, re-initialisation and recovery
 * (recycle is a no-op), the PKCS#11 error codes themselves, persistence across processes, and
 * every protection an HSM gives key material.
 */
public final class InsecureSoftwareHsm implements Hsm {
  private static final Pattern LABEL = Pattern.compile("[a-z0-9][a-z0-9._-]{0,47}");
  private static final KeySpec EC_PRIVATE = KeySpec.of(KeyAlgorithm.EC_P256, KeyUsage.DERIVE);
  private static final int MAX_RANDOM = 1024;
  private static final int MAX_DATA_OBJECT = 64 * 1024;
  private static final int MAX_DATA_OBJECTS = 1024;

  private final SecureRandom random = new SecureRandom();
  private final Map<String, Secret> longTerm = new ConcurrentHashMap<>();
  private final Map<String, KeyPair> ed25519 = new ConcurrentHashMap<>();
  private final Map<String, List<byte[]>> dataObjects = new ConcurrentHashMap<>();
  private final Map<String, LongAdder> operations = new ConcurrentHashMap<>();
  private final ThreadLocal<Session> openOnThisThread = new ThreadLocal<>();
  private final AtomicInteger sessionsInUse = new AtomicInteger();
  private final AtomicLong objectsCreated = new AtomicLong();
  private final AtomicLong liveObjects = new AtomicLong();
  private final AtomicLong handles = new AtomicLong();
  private volatile boolean closed;

  /** A key's value and spec; the EC private key of an ephemeral pair instead of a value. */
  private record Secret(KeySpec spec, byte[] value, PrivateKey ecPrivate) {
    @Override
    public String toString() {
      return "Secret[" + spec + "]";
    }
  }

  public InsecureSoftwareHsm() {}

  // ------------------------------------------------------------------ test-only access

  /**
   * Test-only: a long-term key of known value (as a token object made by the operator would
   * be, but here in the clear), so that a test can run the KMS over the same key material on this
   * HSM and on a real token ({@link FixedTestKeys}). Same policy as
   * {@link #generateLongTermKey}.
   */
  public LongTermKeyInfo importLongTermKeyForTest(String label, int version, KeySpec spec,
      byte[] value) throws HsmException {
    checkLongTermSpec(label, version, spec);
    checkValue(spec, value);
    return storeLongTerm(label, version, spec, value.clone());
  }

  /**
   * Test-only: deletes every data object labelled {@code label}, as someone holding the PIN and
   * a PKCS#11 tool could on a token (the KMS itself never deletes one).
   */
  public void deleteDataObjectsForTest(String label) {
    dataObjects.remove(label);
  }

  /** How many times each session operation ran, by the names {@code CountingHsm} uses. */
  public Map<String, Long> operations() {
    Map<String, Long> out = new TreeMap<>();
    operations.forEach((k, v) -> out.put(k, v.sum()));
    return out;
  }

  private void count(String op) {
    operations.computeIfAbsent(op, k -> new LongAdder()).increment();
  }

  // ------------------------------------------------------------------ Hsm

  @Override
  public HsmSession openSession() throws HsmException {
    if (closed) {
      throw new HsmUnavailableException("HSM adapter is closed");
    }
    if (openOnThisThread.get() != null) {
      throw new HsmPolicyException("an HsmSession is already open on this thread");
    }
    Session s = new Session();
    openOnThisThread.set(s);
    sessionsInUse.incrementAndGet();
    return s;
  }

  private static void checkName(String label, int version) throws HsmPolicyException {
    if (label == null || !LABEL.matcher(label).matches()) {
      throw new HsmPolicyException("key label must match " + LABEL.pattern());
    }
    if (version < 1 || version > 9999) {
      throw new HsmPolicyException("key version must be 1..9999");
    }
  }

  private void checkUsable() throws HsmException {
    if (closed) {
      throw new HsmUnavailableException("HSM adapter is closed");
    }
  }

  @Override
  public KeyRef findKey(String label, int version) throws HsmException {
    checkName(label, version);
    checkUsable();
    Secret k = longTerm.get(Pkcs11Hsm.id(label, version));
    if (k == null) {
      throw new KeyNotFoundException("no key " + Pkcs11Hsm.id(label, version)
          + " in the software HSM");
    }
    return KeyRef.longTerm(label, version, k.spec());
  }

  private static void checkLongTermSpec(String label, int version, KeySpec spec)
      throws HsmPolicyException {
    checkName(label, version);
    boolean deriveRoot = spec.usages().equals(EnumSet.of(KeyUsage.DERIVE))
        && spec.algorithm().isAes();
    boolean macKey = !spec.allows(KeyUsage.DERIVE) && !spec.allows(KeyUsage.ENCRYPT)
        && !spec.allows(KeyUsage.DECRYPT) && !spec.allows(KeyUsage.WRAP)
        && !spec.allows(KeyUsage.UNWRAP);
    if (spec.extractable() || !(deriveRoot || macKey)
        || spec.algorithm() == KeyAlgorithm.AES_192) {
      throw new HsmPolicyException("long-term keys are non-extractable AES-128/256 DERIVE roots or"
          + " MAC keys; got " + spec);
    }
  }

  @Override
  public LongTermKeyInfo generateLongTermKey(String label, int version, KeySpec spec)
      throws HsmException {
    checkLongTermSpec(label, version, spec);
    checkUsable();
    return storeLongTerm(label, version, spec, randomBytes(spec.algorithm().lengthBytes()));
  }

  private synchronized LongTermKeyInfo storeLongTerm(String label, int version, KeySpec spec,
      byte[] value) throws HsmException {
    String id = Pkcs11Hsm.id(label, version);
    if (longTerm.containsKey(id)) {
      throw new HsmPolicyException("key " + id + " already exists");
    }
    Secret k = new Secret(spec, value, null);
    longTerm.put(id, k);
    return new LongTermKeyInfo(KeyRef.longTerm(label, version, spec), kcv(k));
  }

  /** {@link Pkcs11Hsm}'s key check value: roots MAC the KCV context under a derived key. */
  private static String kcv(Secret k) throws HsmException {
    byte[] mac = k.spec().allows(KeyUsage.DERIVE)
        ? hmac(aesEcbDerive(k.value(), Pkcs11Hsm.KCV_CONTEXT, 32), Pkcs11Hsm.KCV_CONTEXT)
        : mac(k, Pkcs11Hsm.KCV_CONTEXT);
    return HexFormat.of().formatHex(mac, 0, 8);
  }

  @Override
  public List<LongTermKeyInfo> listLongTermKeys() throws HsmException {
    checkUsable();
    List<LongTermKeyInfo> out = new ArrayList<>();
    for (Map.Entry<String, Secret> e : new TreeMap<>(longTerm).entrySet()) {
      int sep = e.getKey().lastIndexOf("#v");
      out.add(new LongTermKeyInfo(KeyRef.longTerm(e.getKey().substring(0, sep),
          Integer.parseInt(e.getKey().substring(sep + 2)), e.getValue().spec()),
          kcv(e.getValue())));
    }
    return out;
  }

  @Override
  public synchronized byte[] generateEd25519Key(String label) throws HsmException {
    checkEd25519Label(label);
    checkUsable();
    if (ed25519.containsKey(label)) {
      throw new HsmPolicyException("Ed25519 key " + label + " already exists");
    }
    try {
      KeyPair kp = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
      ed25519.put(label, kp);
      return rawEd25519(kp.getPublic());
    } catch (GeneralSecurityException e) {
      throw new HsmMisconfigurationException("Ed25519 missing from the JDK: " + e);
    }
  }

  private static byte[] rawEd25519(PublicKey pub) {
    byte[] x509 = pub.getEncoded(); // SubjectPublicKeyInfo: a 12-byte prefix, then the 32 bytes
    return Arrays.copyOfRange(x509, x509.length - 32, x509.length);
  }

  private static void checkEd25519Label(String label) throws HsmPolicyException {
    if (label == null || !LABEL.matcher(label).matches()) {
      throw new HsmPolicyException("key label must match " + LABEL.pattern());
    }
  }

  @Override
  public byte[] ed25519PublicKey(String label) throws HsmException {
    checkEd25519Label(label);
    checkUsable();
    KeyPair kp = ed25519.get(label);
    if (kp == null) {
      throw new KeyNotFoundException("no Ed25519 key pair " + label + " in the software HSM");
    }
    return rawEd25519(kp.getPublic());
  }

  @Override
  public byte[] signEd25519(String label, byte[] message) throws HsmException {
    if (message == null || message.length == 0) {
      throw new HsmPolicyException("nothing to sign");
    }
    checkEd25519Label(label);
    checkUsable();
    KeyPair kp = ed25519.get(label);
    if (kp == null) {
      throw new KeyNotFoundException("no Ed25519 key " + label + " in the software HSM");
    }
    try {
      Signature sig = Signature.getInstance("Ed25519");
      sig.initSign(kp.getPrivate());
      sig.update(message);
      return sig.sign();
    } catch (GeneralSecurityException e) {
      throw new HsmMisconfigurationException("Ed25519 failed: " + e);
    }
  }

  @Override
  public List<byte[]> readDataObjects(String label) throws HsmException {
    checkEd25519Label(label);
    checkUsable();
    List<byte[]> out = new ArrayList<>();
    for (byte[] v : dataObjects.getOrDefault(label, List.of())) {
      out.add(v.clone());
    }
    return out;
  }

  @Override
  public void replaceDataObjects(String label, List<byte[]> values) throws HsmException {
    checkEd25519Label(label);
    if (values == null || values.isEmpty() || values.size() > MAX_DATA_OBJECTS) {
      throw new HsmPolicyException("a replacement holds 1.." + MAX_DATA_OBJECTS + " data objects");
    }
    List<byte[]> copies = new ArrayList<>(values.size());
    for (byte[] value : values) {
      if (value == null || value.length == 0 || value.length > MAX_DATA_OBJECT) {
        throw new HsmPolicyException("a data object holds 1.." + MAX_DATA_OBJECT + " bytes");
      }
      copies.add(value.clone());
    }
    checkUsable();
    dataObjects.put(label, List.copyOf(copies));
  }

  @Override
  public HsmCapabilities capabilities() {
    return new HsmCapabilities("insecure-software-hsm", "imskms tests", "InsecureSoftwareHsm",
        false, false, "AES-ECB-ENCRYPT-DATA over SHA-256(context)");
  }

  @Override
  public HsmStatus status() {
    return new HsmStatus(!closed, 1, Integer.MAX_VALUE, sessionsInUse.get(),
        objectsCreated.get(), liveObjects.get(), 0, 0, 0, null);
  }

  @Override
  public void recycle() throws HsmException {
    if (openOnThisThread.get() != null) {
      throw new HsmPolicyException("recycle called from inside an HsmSession");
    }
    checkUsable();
  }

  @Override
  public long countSessionObjects() throws HsmException {
    checkUsable();
    return liveObjects.get();
  }

  @Override
  public void close() {
    closed = true;
  }

  @Override
  public String toString() {
    return "InsecureSoftwareHsm[" + longTerm.size() + " long-term keys, INSECURE, tests only]";
  }

  // ------------------------------------------------------------------ mechanisms

  private byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    random.nextBytes(b);
    return b;
  }

  private static void checkValue(KeySpec spec, byte[] value) throws HsmPolicyException {
    boolean aes = spec.algorithm().isAes();
    if (value == null || spec.algorithm() == KeyAlgorithm.EC_P256
        || (aes ? value.length != spec.algorithm().lengthBytes() : value.length == 0)) {
      throw new HsmPolicyException("a " + (value == null ? 0 : value.length)
          + "-byte key does not fit " + spec);
    }
  }

  private static byte[] sha256(byte[] data) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(data);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** CKM_AES_ECB_ENCRYPT_DATA over SHA-256(context): the first {@code len} bytes. */
  private static byte[] aesEcbDerive(byte[] base, byte[] context, int len) throws HsmException {
    try {
      Cipher c = Cipher.getInstance("AES/ECB/NoPadding");
      c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(base, "AES"));
      return Arrays.copyOf(c.doFinal(sha256(context)), len);
    } catch (GeneralSecurityException e) {
      throw new HsmPolicyException("derive refused: " + e.getMessage());
    }
  }

  private static byte[] hmac(byte[] key, byte[] data) throws HsmException {
    try {
      Mac m = Mac.getInstance("HmacSHA256");
      m.init(new SecretKeySpec(key, "HmacSHA256"));
      return m.doFinal(data);
    } catch (GeneralSecurityException e) {
      throw new HsmPolicyException("HMAC refused: " + e.getMessage());
    }
  }

  private static byte[] cmac(byte[] key, byte[] data) {
    CMac m = new CMac(AESEngine.newInstance());
    m.init(new KeyParameter(key));
    m.update(data, 0, data.length);
    byte[] out = new byte[m.getMacSize()];
    m.doFinal(out, 0);
    return out;
  }

  /** CKM_AES_CMAC for AES keys, CKM_SHA256_HMAC for HMAC keys, full length. */
  private static byte[] mac(Secret k, byte[] data) throws HsmException {
    return k.spec().algorithm().isAes() ? cmac(k.value(), data) : hmac(k.value(), data);
  }

  private static Cipher wrapCipher(WrapMode mode) throws GeneralSecurityException {
    return Cipher.getInstance(mode == WrapMode.KW ? "AES/KW/NoPadding" : "AES/KWP/NoPadding");
  }

  private static ECParameterSpec p256() throws GeneralSecurityException {
    AlgorithmParameters p = AlgorithmParameters.getInstance("EC");
    p.init(new ECGenParameterSpec("secp256r1"));
    return p.getParameterSpec(ECParameterSpec.class);
  }

  private static byte[] fixed32(BigInteger v) {
    byte[] b = v.toByteArray();
    byte[] out = new byte[32];
    int n = Math.min(32, b.length);
    System.arraycopy(b, b.length - n, out, 32 - n, n);
    return out;
  }

  // ------------------------------------------------------------------ sessions

  /** One borrowed "session"; see {@link HsmSession}. */
  public final class Session implements HsmSession {
    private final Map<Long, Secret> live = new HashMap<>();
    private final Thread opener = Thread.currentThread();
    private boolean sessionClosed;

    private Session() {}

    /**
     * Test-only: imports a key of known value as a session object (what
     * {@code Pkcs11Session.importCleartextKeyForSelfTest} does on a token).
     */
    public KeyRef importForTest(KeySpec spec, byte[] value) throws HsmException {
      checkOpen();
      checkValue(spec, value);
      return track("test import", new Secret(spec, value.clone(), null));
    }

    private void checkOpen() throws HsmException {
      if (sessionClosed) {
        throw new HsmPolicyException("HsmSession is closed");
      }
      if (closed) {
        throw new HsmUnavailableException("HSM unavailable (the software HSM was closed)");
      }
    }

    private Secret resolve(KeyRef key) throws HsmException {
      if (key.kind() == KeyRef.Kind.LONG_TERM) {
        Secret k = longTerm.get(key.tokenLabel);
        if (k == null) {
          throw new KeyNotFoundException("no key " + key.tokenLabel + " in the software HSM");
        }
        if (!k.spec().equals(key.spec())) {
          throw new HsmPolicyException(key + " is " + k.spec() + " in the HSM, not "
              + key.spec());
        }
        return k;
      }
      Secret k = key.owner == this ? live.get(key.handle) : null;
      if (k == null) {
        throw new HsmPolicyException(key + " is stale: it belongs to another, closed or"
            + " re-initialised HSM session");
      }
      return k;
    }

    /** The CKA_* usage attribute check of every mechanism. */
    private Secret use(KeyRef key, KeyUsage usage) throws HsmException {
      checkOpen();
      if (!key.spec().allows(usage)) {
        throw new HsmPolicyException(key + " does not allow " + usage);
      }
      Secret k = resolve(key);
      if (!k.spec().allows(usage)) {
        throw new HsmPolicyException(key + " does not allow " + usage);
      }
      return k;
    }

    private KeyRef track(String origin, Secret k) {
      long handle = handles.incrementAndGet();
      live.put(handle, k);
      objectsCreated.incrementAndGet();
      liveObjects.incrementAndGet();
      return KeyRef.session(origin, k.spec(), 1, handle, this);
    }

    @Override
    public KeyRef deriveKey(KeyRef base, byte[] context, KeySpec spec) throws HsmException {
      count("derive");
      Secret b = use(base, KeyUsage.DERIVE);
      if (context == null || context.length == 0) {
        throw new HsmPolicyException("a derivation needs a non-empty context");
      }
      if (!base.spec().algorithm().isAes()) {
        throw new HsmPolicyException(base + " is not an AES derive root");
      }
      if (spec.algorithm() == KeyAlgorithm.AES_192 || spec.algorithm() == KeyAlgorithm.EC_P256) {
        throw new HsmPolicyException("derived keys are AES-128/256 or HMAC keys");
      }
      byte[] v = aesEcbDerive(b.value(), context, spec.algorithm().lengthBytes());
      return track("derived from " + base.label(), new Secret(spec, v, null));
    }

    /** No shared-key cache here: an ordinary derive (HsmConfig#sharedKeys 0). */
    @Override
    public KeyRef deriveShared(KeyRef base, byte[] context, KeySpec spec, byte[] name,
        long notAfterMillis) throws HsmException {
      return deriveKey(base, context, spec);
    }

    @Override
    public KeyRef findShared(byte[] name) {
      return null;
    }

    @Override
    public byte[] wrapKey(KeyRef kek, KeyRef key, WrapMode mode) throws HsmException {
      count("wrap");
      Secret w = use(kek, KeyUsage.WRAP);
      if (!key.spec().extractable()) {
        throw new HsmPolicyException(key + " is not wrappable");
      }
      Secret k = resolve(key);
      if (!k.spec().extractable() || k.value() == null) {
        throw new HsmPolicyException(key + " is not wrappable");
      }
      if (!kek.spec().algorithm().isAes()) {
        throw new HsmPolicyException(kek + " is not an AES key");
      }
      try {
        Cipher c = wrapCipher(mode);
        c.init(Cipher.WRAP_MODE, new SecretKeySpec(w.value(), "AES"));
        return c.wrap(new SecretKeySpec(k.value(), "AES"));
      } catch (GeneralSecurityException e) {
        throw new HsmPolicyException("wrap refused: " + e.getMessage());
      }
    }

    @Override
    public KeyRef unwrapKey(KeyRef kek, byte[] wrapped, WrapMode mode, KeySpec spec)
        throws HsmException {
      count("unwrap");
      Secret w = use(kek, KeyUsage.UNWRAP);
      if (wrapped == null || wrapped.length != spec.algorithm().lengthBytes() + 8) {
        throw new HsmIntegrityException("wrapped key has the wrong length for " + spec);
      }
      if (!kek.spec().algorithm().isAes() || spec.algorithm() == KeyAlgorithm.EC_P256) {
        throw new HsmPolicyException("unwrap: AES KEKs, secret keys only");
      }
      Cipher c;
      try {
        c = wrapCipher(mode);
        c.init(Cipher.UNWRAP_MODE, new SecretKeySpec(w.value(), "AES"));
      } catch (GeneralSecurityException e) {
        throw new HsmPolicyException("unwrap refused: " + e.getMessage());
      }
      byte[] v;
      try {
        v = c.unwrap(wrapped, "AES", Cipher.SECRET_KEY).getEncoded();
      } catch (GeneralSecurityException e) {
        // the RFC 3394/5649 integrity check value did not match: another KEK, or altered
        throw new HsmIntegrityException("unwrap under " + kek.label()
            + ": integrity check failed");
      }
      if (v.length != spec.algorithm().lengthBytes()) {
        throw new HsmIntegrityException("KWP blob holds a " + v.length + "-byte key, not "
            + spec);
      }
      return track("unwrapped under " + kek.label(), new Secret(spec, v, null));
    }

    private void checkIv(byte[] iv) throws HsmPolicyException {
      if (iv == null || iv.length != 12) {
        throw new HsmPolicyException("AES-GCM IVs are 12 bytes");
      }
    }

    private Cipher gcm(int mode, Secret k, KeyRef key, byte[] iv, byte[] aad)
        throws HsmException {
      if (!key.spec().algorithm().isAes()) {
        throw new HsmPolicyException(key + " is not an AES key");
      }
      try {
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        c.init(mode, new SecretKeySpec(k.value(), "AES"), new GCMParameterSpec(128, iv));
        if (aad != null) {
          c.updateAAD(aad);
        }
        return c;
      } catch (GeneralSecurityException e) {
        throw new HsmPolicyException("AES-GCM refused: " + e.getMessage());
      }
    }

    @Override
    public byte[] encryptGcm(KeyRef key, byte[] iv, byte[] aad, byte[] plaintext)
        throws HsmException {
      count("encrypt");
      Secret k = use(key, KeyUsage.ENCRYPT);
      checkIv(iv);
      try {
        return gcm(Cipher.ENCRYPT_MODE, k, key, iv, aad)
            .doFinal(plaintext == null ? new byte[0] : plaintext);
      } catch (GeneralSecurityException e) {
        throw new HsmPolicyException("AES-GCM refused: " + e.getMessage());
      }
    }

    @Override
    public byte[] decryptGcm(KeyRef key, byte[] iv, byte[] aad, byte[] ciphertextAndTag)
        throws HsmException {
      count("decrypt");
      Secret k = use(key, KeyUsage.DECRYPT);
      checkIv(iv);
      if (ciphertextAndTag == null || ciphertextAndTag.length < 16) {
        throw new HsmIntegrityException("AES-GCM ciphertext shorter than its tag");
      }
      try {
        return gcm(Cipher.DECRYPT_MODE, k, key, iv, aad).doFinal(ciphertextAndTag);
      } catch (AEADBadTagException e) {
        throw new HsmIntegrityException("decrypt " + key + ": integrity check failed");
      } catch (GeneralSecurityException e) {
        throw new HsmPolicyException("AES-GCM refused: " + e.getMessage());
      }
    }

    @Override
    public byte[] sign(KeyRef key, byte[] data) throws HsmException {
      count("sign");
      Secret k = use(key, KeyUsage.SIGN);
      return mac(k, data == null ? new byte[0] : data);
    }

    @Override
    public void verify(KeyRef key, byte[] data, byte[] tag) throws HsmException {
      count("verify");
      Secret k = use(key, KeyUsage.VERIFY);
      int expected = key.spec().algorithm().isAes() ? 16 : 32;
      if (tag == null || tag.length != expected) {
        throw new HsmIntegrityException("MAC tag must be " + expected + " bytes");
      }
      if (!MessageDigest.isEqual(mac(k, data == null ? new byte[0] : data), tag)) {
        throw new HsmIntegrityException("verify " + key + ": integrity check failed");
      }
    }

    @Override
    public byte[] random(int length) throws HsmException {
      count("random");
      checkOpen();
      if (length < 1 || length > MAX_RANDOM) {
        throw new HsmPolicyException("random length must be 1.." + MAX_RANDOM);
      }
      return randomBytes(length);
    }

    @Override
    public KeyRef generateKey(KeySpec spec) throws HsmException {
      count("generateKey");
      checkOpen();
      if (spec.algorithm() == KeyAlgorithm.EC_P256 || spec.algorithm() == KeyAlgorithm.AES_192) {
        throw new HsmPolicyException("generated session keys are AES-128/256 or HMAC keys");
      }
      return track("generated", new Secret(spec, randomBytes(spec.algorithm().lengthBytes()),
          null));
    }

    @Override
    public EcKeyPair generateEcKeyPair() throws HsmException {
      count("generateEcKeyPair");
      checkOpen();
      try {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), random);
        KeyPair kp = g.generateKeyPair();
        ECPoint w = ((ECPublicKey) kp.getPublic()).getW();
        byte[] point = new byte[65];
        point[0] = 0x04;
        System.arraycopy(fixed32(w.getAffineX()), 0, point, 1, 32);
        System.arraycopy(fixed32(w.getAffineY()), 0, point, 33, 32);
        // The token makes the public half a session object too, read and destroyed at once.
        objectsCreated.incrementAndGet();
        KeyRef priv = track("ephemeral EC private", new Secret(EC_PRIVATE, null,
            kp.getPrivate()));
        return new EcKeyPair(priv, point);
      } catch (GeneralSecurityException e) {
        throw new HsmMisconfigurationException("P-256 missing from the JDK: " + e);
      }
    }

    @Override
    public KeyRef deriveEcdh(KeyRef privateKey, byte[] peerPublicPoint, KeySpec spec)
        throws HsmException {
      count("deriveEcdh");
      Secret k = use(privateKey, KeyUsage.DERIVE);
      if (privateKey.spec().algorithm() != KeyAlgorithm.EC_P256 || k.ecPrivate() == null) {
        throw new HsmPolicyException(privateKey + " is not an EC private key");
      }
      if (spec.algorithm() != KeyAlgorithm.AES_256) {
        throw new HsmPolicyException("the ECDH shared secret becomes an AES-256 key");
      }
      EcPoints.checkP256(peerPublicPoint);
      try {
        ECPoint w = new ECPoint(new BigInteger(1, Arrays.copyOfRange(peerPublicPoint, 1, 33)),
            new BigInteger(1, Arrays.copyOfRange(peerPublicPoint, 33, 65)));
        PublicKey peer = KeyFactory.getInstance("EC").generatePublic(
            new ECPublicKeySpec(w, p256()));
        KeyAgreement ka = KeyAgreement.getInstance("ECDH");
        ka.init(k.ecPrivate());
        ka.doPhase(peer, true);
        byte[] z = ka.generateSecret(); // the X coordinate, 32 bytes (CKD_NULL)
        return track("ECDH shared secret", new Secret(spec, z, null));
      } catch (GeneralSecurityException e) {
        throw new HsmPolicyException("ECDH refused: " + e.getMessage());
      }
    }

    @Override
    public void destroy(KeyRef sessionKey) throws HsmException {
      count("destroy");
      checkOpen();
      if (sessionKey.kind() != KeyRef.Kind.SESSION) {
        throw new HsmPolicyException("long-term keys are not destroyed through a session");
      }
      resolve(sessionKey);
      live.remove(sessionKey.handle);
      liveObjects.decrementAndGet();
    }

    @Override
    public void close() {
      if (sessionClosed) {
        return;
      }
      if (Thread.currentThread() != opener) {
        throw new IllegalStateException("an HsmSession must be closed by the thread that opened"
            + " it");
      }
      sessionClosed = true;
      liveObjects.addAndGet(-live.size());
      live.clear();
      sessionsInUse.decrementAndGet();
      openOnThisThread.remove();
    }

    @Override
    public String toString() {
      return "HsmSession[software, INSECURE, " + live.size() + " live keys]";
    }
  }
}
