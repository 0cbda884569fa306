package io.imskms.hsm;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.*;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xipki.pkcs11.wrapper.AttributeVector;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.PKCS11KeyPair;
import org.xipki.pkcs11.wrapper.PKCS11Module;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Slot;
import org.xipki.pkcs11.wrapper.Token;
import org.xipki.pkcs11.wrapper.TokenException;
import org.xipki.pkcs11.wrapper.TokenInfo;
import org.xipki.pkcs11.wrapper.params.KEY_DERIVATION_STRING_DATA;

/**
 * The PKCS#11 implementation of {@link Hsm} over the IAIK/xipki wrapper.
 *
 * <p>Concurrency: a fair read/write gate. Every {@link HsmSession} holds the read side for its
 * lifetime; re-initialisation (recovery after a fault, or a recycle that returns SoftHSM2's leaked
 * native memory) takes the write side, so it waits for sessions in flight to finish and makes new
 * ones wait, within their borrow deadline, instead of failing them.
 */
public final class Pkcs11Hsm implements Hsm {
  private static final Logger LOG = LoggerFactory.getLogger(Pkcs11Hsm.class);
  private static final Pattern LABEL = Pattern.compile("[a-z0-9][a-z0-9._-]{0,47}");
  private static final String VERSION_SEP = "#v";
  static final byte[] KCV_CONTEXT = "imskms-kcv-v1".getBytes(StandardCharsets.US_ASCII);
  private static final KeySpec KCV_KEY = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN);
  static final long[] REQUIRED_MECHANISMS = {
    CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN, CKM_AES_ECB_ENCRYPT_DATA, CKM_AES_KEY_WRAP,
    CKM_AES_KEY_WRAP_PAD, CKM_AES_GCM, CKM_SHA256_HMAC, CKM_AES_CMAC,
    // enrolment (ephemeral P-256 ECDH) and the audit checkpoint key (Ed25519)
    CKM_EC_KEY_PAIR_GEN, CKM_ECDH1_DERIVE, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA
  };

  private final HsmConfig cfg;
  private final PKCS11Module module;
  private final ReentrantReadWriteLock gate = new ReentrantReadWriteLock(true);
  private final ScheduledExecutorService maintenance;
  private final AtomicBoolean recoveryQueued = new AtomicBoolean();
  private final AtomicBoolean recycleQueued = new AtomicBoolean();
  /** Long-term keys this process has used, with the KCV seen first; re-checked after re-init. */
  private final Map<String, LongTermKeyInfo> catalog = new ConcurrentHashMap<>();
  private final AtomicLong generations = new AtomicLong();
  private final AtomicLong recycles = new AtomicLong();
  private final AtomicLong recoveries = new AtomicLong();
  private volatile Generation gen;
  private volatile HsmCapabilities capabilities;
  private volatile String lastError;
  private volatile boolean closed;
  /** A planned recycle is between teardown and start: sessions wait at the gate for it. */
  private volatile boolean recycling;
  private static final long MAX_BACKOFF_MS = 30_000;
  private volatile long recoveryBackoffMillis;
  private volatile long lastRecoveryAttemptNanos = System.nanoTime() - 3_600_000_000_000L;
  private volatile boolean recoveryHalted;

  private Pkcs11Hsm(HsmConfig cfg, PKCS11Module module) {
    this.cfg = cfg;
    this.module = module;
    this.recoveryBackoffMillis = cfg.recoveryInterval().toMillis();
    this.maintenance = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "hsm-maintenance");
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Initialises the module, finds the token by label, checks its mechanisms, logs in, opens the
   * session pool and verifies the configured key check values.
   */
  public static Pkcs11Hsm open(HsmConfig cfg) throws HsmException {
    Pkcs11Hsm hsm = new Pkcs11Hsm(cfg, Pkcs11Modules.get(cfg.modulePath()));
    hsm.gate.writeLock().lock();
    try {
      hsm.gen = hsm.start(true);
    } catch (HsmException | RuntimeException e) {
      hsm.maintenance.shutdownNow();
      hsm.finalizeQuietly();
      throw e;
    } finally {
      hsm.gate.writeLock().unlock();
    }
    return hsm;
  }

  // ---------------------------------------------------------------- lifecycle

  private Generation start(boolean firstStart) throws HsmException {
    try {
      module.initialize();
    } catch (PKCS11Exception e) {
      if (e.getErrorCode() != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw new HsmUnavailableException("C_Initialize failed", e.getErrorCode(), e);
      }
    }
    Token token = findToken(firstStart);
    checkMechanisms(token);
    Session admin = null;
    try {
      admin = token.openSession(true);
      try {
        admin.login(CKU_USER, cfg.userPin());
      } catch (PKCS11Exception e) {
        if (e.getErrorCode() != CKR_USER_ALREADY_LOGGED_IN) {
          throw Ckr.translate(Ckr.Op.LOGIN, "token '" + cfg.tokenLabel() + "'", e);
        }
      }
      SharedKeys shared = null;
      if (cfg.sharedKeys() > 0) {
        List<Session> keepers = new ArrayList<>();
        for (int i = 0; i < SharedKeys.keeperCount(cfg.poolSize()); i++) {
          keepers.add(token.openSession(true));
        }
        shared = new SharedKeys(cfg.sharedKeys(), keepers);
      }
      Generation g = new Generation(generations.incrementAndGet(), token, admin, cfg.poolSize(),
          shared);
      for (int i = 0; i < cfg.poolSize(); i++) {
        g.idle.add(token.openSession(true));
      }
      refindKeys(g);
      lastError = null;
      LOG.info("HSM ready: token '{}', generation {}, {} sessions, {} long-term keys checked",
          cfg.tokenLabel(), g.number, cfg.poolSize(), catalog.size());
      return g;
    } catch (PKCS11Exception e) {
      finalizeQuietly();
      throw Ckr.translate(Ckr.Op.SESSION, "token '" + cfg.tokenLabel() + "'", e);
    } catch (HsmException | RuntimeException e) {
      finalizeQuietly();
      throw e;
    }
  }

  private Token findToken(boolean firstStart) throws HsmException {
    try {
      for (Slot slot : module.getSlotList(true)) {
        Token t = slot.getToken();
        TokenInfo info = t.getTokenInfo();
        if (cfg.tokenLabel().equals(info.getLabel().trim())) {
          if (capabilities == null) {
            long[] mechs = t.getMechanismList();
            boolean sp800 = Arrays.stream(mechs).anyMatch(m -> m == CKM_SP800_108_COUNTER_KDF);
            capabilities = new HsmCapabilities(info.getLabel().trim(),
                info.getManufacturerID().trim(), info.getModel().trim(), sp800, false,
                "AES-ECB-ENCRYPT-DATA over SHA-256(context)");
            if (sp800) {
              LOG.info("token offers CKM_SP800_108_COUNTER_KDF, but ipkcs11wrapper 1.0.9 has no"
                  + " binding for its parameters; using the portable AES-ECB KDF");
            }
          }
          return t;
        }
      }
    } catch (PKCS11Exception e) {
      throw Ckr.translate(Ckr.Op.SESSION, "listing slots", e);
    }
    String msg = "no token labelled '" + cfg.tokenLabel() + "' in " + cfg.modulePath()
        + " (SOFTHSM2_CONF=" + System.getenv("SOFTHSM2_CONF") + ")";
    if (firstStart) {
      throw new HsmMisconfigurationException(msg + "; create it with: bin/kms setup-token");
    }
    throw new HsmUnavailableException(msg);
  }

  private void checkMechanisms(Token token) throws HsmException {
    long[] offered = token.getMechanismList();
    for (long m : REQUIRED_MECHANISMS) {
      if (Arrays.stream(offered).noneMatch(o -> o == m)) {
        throw new HsmMisconfigurationException("token '" + cfg.tokenLabel() + "' ("
            + (capabilities == null ? "?" : capabilities.manufacturer() + " "
                + capabilities.model()) + ") does not offer " + ckmCodeToName(m));
      }
    }
  }

  /** After (re)initialisation: find every known key again and check its key check value. */
  private void refindKeys(Generation g) throws HsmException {
    for (Map.Entry<String, String> e : cfg.expectedKcvs().entrySet()) {
      int sep = e.getKey().lastIndexOf(VERSION_SEP);
      if (sep < 0) {
        throw new HsmMisconfigurationException("expected KCV entry '" + e.getKey()
            + "' is not of the form label#vN");
      }
      String label = e.getKey().substring(0, sep);
      int version = Integer.parseInt(e.getKey().substring(sep + VERSION_SEP.length()));
      String kcv = loadKey(g, label, version).kcv();
      if (!kcv.equalsIgnoreCase(e.getValue())) {
        throw new HsmMisconfigurationException("key " + e.getKey() + " has key check value "
            + kcv + ", but " + e.getValue() + " was recorded when it was made: wrong token?");
      }
    }
    for (LongTermKeyInfo info : List.copyOf(catalog.values())) {
      loadKey(g, info.label(), info.version());
    }
  }

  private void finalizeQuietly() {
    try {
      module.finalize(null);
    } catch (PKCS11Exception | RuntimeException e) {
      LOG.debug("C_Finalize: {}", e.toString());
    }
  }

  private void teardown(Generation g) {
    if (g != null) {
      g.broken = true;
      for (Session s : g.idle) {
        closeQuietly(s);
      }
      g.idle.clear();
      if (g.shared != null) {
        g.shared.keeperSessions().forEach(Pkcs11Hsm::closeQuietly);
      }
      closeQuietly(g.admin);
    }
    finalizeQuietly();
  }

  /** C_CloseSession, logging a failure; true if it succeeded. */
  private static boolean closeQuietly(Session s) {
    try {
      s.closeSession();
      return true;
    } catch (PKCS11Exception | RuntimeException e) {
      LOG.trace("C_CloseSession: {}", e.toString());
      return false;
    }
  }

  @Override
  public void recycle() throws HsmException {
    if (gate.getReadHoldCount() > 0) {
      throw new HsmPolicyException("recycle called from inside an HsmSession");
    }
    recoveryHalted = false;
    reinitialise(false);
  }

  /** Quiesce, finalize, initialise, log in, re-find keys, resume. */
  private void reinitialise(boolean recovery) throws HsmException {
    // Bounded: while a writer waits, the fair gate holds back new sessions, so a session that is
    // never closed must not stall the whole HSM. Give up, let requests through, try again later.
    if (!tryWriteLock()) {
      throw new HsmUnavailableException((recovery ? "recovery" : "recycle") + " postponed: HSM"
          + " sessions still open after " + cfg.borrowTimeout().toMillis() + " ms");
    }
    try {
      if (closed) {
        throw new HsmUnavailableException("HSM adapter is closed");
      }
      Generation old = gen;
      if (recovery && old != null && !old.broken) {
        return; // someone else already recovered
      }
      // A planned recycle keeps the adapter ready: requests wait at the gate for the new
      // generation (delayed, not refused). Only a failed start makes it unready.
      recycling = !recovery;
      long pauseStart = System.nanoTime();
      gen = null;
      long created = old == null ? 0 : old.objectsCreated.get();
      teardown(old);
      try {
        gen = start(false);
      } catch (HsmException e) {
        lastError = e.getMessage();
        throw e;
      }
      if (recovery) {
        recoveries.incrementAndGet();
        LOG.warn("HSM recovered: generation {} replaces {}", gen.number,
            old == null ? "none" : old.number);
      } else {
        recycles.incrementAndGet();
        LOG.info("HSM module recycled after {} session objects: generation {}, re-initialised"
            + " in {} ms (requests wait at the gate meanwhile)", created, gen.number,
            (System.nanoTime() - pauseStart) / 1_000_000);
      }
    } finally {
      recycling = false;
      gate.writeLock().unlock();
    }
  }

  /** Marks the generation broken and schedules a recovery; idempotent. */
  void markBroken(Generation g, HsmException cause) {
    if (g != gen) {
      return; // not yet published (start-up or re-initialisation in progress) or already replaced
    }
    if (!g.broken) {
      g.broken = true;
      lastError = cause.getMessage();
      LOG.warn("HSM generation {} marked unavailable: {}", g.number, cause.getMessage());
    }
    requestRecovery(0);
  }

  /**
   * Schedules a re-initialisation, no sooner than the back-off allows: the delay starts at
   * {@code recoveryInterval} and doubles after every failed attempt up to {@link #MAX_BACKOFF_MS}.
   * A token that refuses the PIN halts automatic recovery: retrying C_Login would lock the PIN on
   * a real HSM. An explicit {@link #recycle()} (an operator's action) tries again.
   */
  private void requestRecovery(long minDelayMillis) {
    if (closed || recoveryHalted || !recoveryQueued.compareAndSet(false, true)) {
      return;
    }
    long sinceLast = (System.nanoTime() - lastRecoveryAttemptNanos) / 1_000_000;
    long delay = Math.max(minDelayMillis, Math.max(0, recoveryBackoffMillis - sinceLast));
    try {
      maintenance.schedule(this::recoverNow, delay, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      recoveryQueued.set(false); // closed meanwhile
    }
  }

  private void recoverNow() {
    recoveryQueued.set(false);
    lastRecoveryAttemptNanos = System.nanoTime();
    try {
      reinitialise(true);
      recoveryBackoffMillis = cfg.recoveryInterval().toMillis();
    } catch (HsmException e) {
      if (refusesPin(e)) {
        recoveryHalted = true;
        LOG.error("HSM recovery halted: the token refused the PIN ({}); not retrying, to avoid"
            + " locking it. Fix the PIN and restart or recycle.", e.ckrName());
        return;
      }
      recoveryBackoffMillis = Math.min(MAX_BACKOFF_MS, recoveryBackoffMillis * 2);
      LOG.warn("HSM recovery failed, retrying in {} ms: {}", recoveryBackoffMillis,
          e.getMessage());
      requestRecovery(recoveryBackoffMillis);
    } catch (RuntimeException e) {
      recoveryBackoffMillis = Math.min(MAX_BACKOFF_MS, recoveryBackoffMillis * 2);
      LOG.warn("HSM recovery failed, retrying in {} ms: {}", recoveryBackoffMillis, e.toString());
      requestRecovery(recoveryBackoffMillis);
    }
  }

  private static boolean refusesPin(HsmException e) {
    long c = e.ckr();
    return c == CKR_PIN_INCORRECT || c == CKR_PIN_LOCKED || c == CKR_PIN_EXPIRED
        || c == CKR_PIN_LEN_RANGE || c == CKR_USER_PIN_NOT_INITIALIZED;
  }


  private void requestRecycle() {
    if (closed || !recycleQueued.compareAndSet(false, true)) {
      return;
    }
    Runnable task = () -> {
      try {
        Generation g = gen;
        if (g != null && g.objectsCreated.get() >= cfg.recycleAfterObjects()) {
          reinitialise(false);
        }
      } catch (HsmException | RuntimeException e) {
        LOG.warn("HSM recycle failed: {}", e.getMessage());
        Generation g = gen;
        if (g == null || g.broken) {
          requestRecovery(cfg.recoveryInterval().toMillis());
        }
      } finally {
        recycleQueued.set(false);
      }
    };
    try {
      maintenance.execute(task);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      recycleQueued.set(false); // closed meanwhile
    }
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    maintenance.shutdownNow();
    if (!tryWriteLock()) {
      // Finalizing under a session in use could crash the JVM inside the token library.
      LOG.warn("HSM adapter closed with sessions still open; the module stays initialised");
      return;
    }
    try {
      Generation g = gen;
      gen = null;
      teardown(g);
    } finally {
      gate.writeLock().unlock();
    }
  }

  private boolean tryWriteLock() {
    try {
      return gate.writeLock().tryLock(cfg.borrowTimeout().toNanos(), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  // ---------------------------------------------------------------- sessions

  @Override
  public HsmSession openSession() throws HsmException {
    if (gate.getReadHoldCount() > 0) {
      throw new HsmPolicyException("an HsmSession is already open on this thread");
    }
    long timeoutNanos = cfg.borrowTimeout().toNanos();
    long deadline = System.nanoTime() + timeoutNanos;
    Generation g = null;
    Session s = null;
    try {
      if (!gate.readLock().tryLock(timeoutNanos, TimeUnit.NANOSECONDS)) {
        throw new HsmUnavailableException("HSM busy: re-initialisation did not finish within "
            + cfg.borrowTimeout().toMillis() + " ms");
      }
      g = readyGeneration();
      s = g.idle.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      if (s == null) {
        throw new HsmUnavailableException("HSM saturated: all " + cfg.poolSize()
            + " sessions busy for " + cfg.borrowTimeout().toMillis() + " ms");
      }
      g.inUse.incrementAndGet();
      return new Pkcs11Session(this, g, s, cfg.deriveTemplateSupported());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw unlockAnd(new HsmUnavailableException("interrupted while waiting for an HSM session"));
    } catch (HsmException e) {
      throw unlockAnd(e);
    } catch (RuntimeException e) {
      throw unlockAnd(e);
    }
  }

  private <E extends Exception> E unlockAnd(E e) {
    if (gate.getReadHoldCount() > 0) {
      gate.readLock().unlock();
    }
    return e;
  }

  private Generation readyGeneration() throws HsmException {
    if (closed) {
      throw new HsmUnavailableException("HSM adapter is closed");
    }
    Generation g = gen;
    if (g == null || g.broken) {
      requestRecovery(0);
      throw new HsmUnavailableException("HSM unavailable"
          + (lastError == null ? "" : ": " + lastError));
    }
    return g;
  }

  /**
   * Called by {@link Pkcs11Session#close()} on the thread that opened it.
   *
   * @param undestroyed session objects the session created and could not destroy one by one; a
   *     broken session is closed, and if C_CloseSession succeeds they are gone with it
   */
  void release(Generation g, Session s, boolean broken, int undestroyed) {
    try {
      if (broken || g.broken) {
        if (closeQuietly(s) && undestroyed > 0) {
          g.objectsDestroyed.addAndGet(undestroyed);
        }
        if (!g.broken) {
          try {
            g.idle.add(g.token.openSession(true));
          } catch (PKCS11Exception e) {
            markBroken(g, Ckr.translate(Ckr.Op.SESSION, "replacing a dropped session", e));
          }
        }
      } else {
        g.idle.add(s);
      }
    } finally {
      g.inUse.decrementAndGet();
      gate.readLock().unlock();
    }
    if (cfg.recycleAfterObjects() > 0 && g.objectsCreated.get() >= cfg.recycleAfterObjects()) {
      requestRecycle();
    }
  }

  // ---------------------------------------------------------------- long-term keys

  static String id(String label, int version) {
    return label + VERSION_SEP + version;
  }

  private static void checkName(String label, int version) throws HsmPolicyException {
    if (label == null || !LABEL.matcher(label).matches()) {
      throw new HsmPolicyException("key label must match " + LABEL.pattern());
    }
    if (version < 1 || version > 9999) {
      throw new HsmPolicyException("key version must be 1..9999");
    }
  }

  @Override
  public KeyRef findKey(String label, int version) throws HsmException {
    checkName(label, version);
    return withReadGate(g -> loadKey(g, label, version).ref());
  }

  /** The long-term key's handle in generation g; finds and checks it on first use. */
  long handleOf(Generation g, KeyRef ref) throws HsmException {
    Long h = g.handles.get(ref.tokenLabel);
    if (h != null) {
      return h;
    }
    loadKey(g, ref.label(), ref.version());
    return g.handles.get(ref.tokenLabel);
  }

  private LongTermKeyInfo loadKey(Generation g, String label, int version) throws HsmException {
    String id = id(label, version);
    synchronized (g.adminLock) {
      LongTermKeyInfo known = catalog.get(id);
      if (known != null && g.handles.containsKey(id)) {
        return known;
      }
      long handle;
      AttributeVector a;
      try {
        long[] found = g.admin.findObjectsSingle(new AttributeVector()
            .class_(CKO_SECRET_KEY).token(true).label(id), 2);
        if (found.length == 0) {
          if (known != null) {
            // A key this process used before is gone: the token was removed or replaced.
            HsmUnavailableException e = new HsmUnavailableException("long-term key " + id
                + " vanished from token '" + cfg.tokenLabel() + "'");
            markBroken(g, e);
            throw e;
          }
          throw new KeyNotFoundException("no key " + id + " in token '" + cfg.tokenLabel() + "'");
        }
        if (found.length > 1) {
          throw new HsmMisconfigurationException("two keys labelled " + id + " in token '"
              + cfg.tokenLabel() + "'");
        }
        handle = found[0];
        a = g.admin.getAttrValues(handle, CKA_KEY_TYPE, CKA_VALUE_LEN, CKA_SENSITIVE,
            CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL,
            CKA_MODIFIABLE, CKA_DERIVE, CKA_SIGN, CKA_VERIFY, CKA_ENCRYPT, CKA_DECRYPT,
            CKA_WRAP, CKA_UNWRAP, CKA_WRAP_WITH_TRUSTED);
      } catch (PKCS11Exception e) {
        HsmException he = Ckr.translate(Ckr.Op.FIND, id, e);
        if (he.isRetryable()) {
          markBroken(g, he);
        }
        throw he;
      }
      String why = extractionPolicyViolation(a);
      if (why != null) {
        throw new HsmPolicyException("long-term key " + id + " " + why + "; refusing to use it");
      }
      boolean generatedHere = Boolean.TRUE.equals(a.local())
          && Boolean.TRUE.equals(a.alwaysSensitive());
      KeySpec spec = specOf(id, a, !generatedHere);
      String kcv = computeKcv(g, g.admin, handle, spec);
      // A key someone imported (C_CreateObject or C_UnwrapKey, value known to them) is not a
      // long-term key of this KMS, whatever its label says, unless it is one restored from a
      // backup whose key check value the operator pinned (key manifest, or the backup file's
      // authenticated KCVs during `kms keys import`).
      if (!generatedHere && !kcv.equalsIgnoreCase(pinnedKcv(id))) {
        throw new HsmPolicyException("long-term key " + id + " was not generated in the token as"
            + " always sensitive" + (pinnedKcv(id) == null ? " and is not pinned by the key"
                + " manifest" : " and its key check value " + kcv + " is not the pinned "
                + pinnedKcv(id)) + "; refusing to use it");
      }
      if (known != null && !known.kcv().equals(kcv)) {
        HsmMisconfigurationException e = new HsmMisconfigurationException("long-term key " + id
            + " now has key check value " + kcv + " but had " + known.kcv()
            + ": the token was replaced; refusing to use it");
        g.broken = true;
        lastError = e.getMessage();
        throw e;
      }
      LongTermKeyInfo info = known != null ? known
          : new LongTermKeyInfo(KeyRef.longTerm(label, version, spec), kcv,
              Boolean.TRUE.equals(a.extractable()), !generatedHere);
      catalog.put(id, info);
      g.handles.put(id, handle);
      return info;
    }
  }

  /**
   * Why a long-term key's attributes break the extraction policy, or null: it must be sensitive
   * and unmodifiable, and either never extractable (CKA_EXTRACTABLE=false, and for a key
   * generated here CKA_NEVER_EXTRACTABLE=true) or extractable only under a trusted key
   * (CKA_WRAP_WITH_TRUSTED=true, the backup-capable form).
   */
  static String extractionPolicyViolation(AttributeVector a) {
    if (!Boolean.TRUE.equals(a.sensitive())) {
      return "is not sensitive (CKA_SENSITIVE=false)";
    }
    if (Boolean.TRUE.equals(a.modifiable())) {
      return "is modifiable (CKA_MODIFIABLE=true)";
    }
    if (Boolean.FALSE.equals(a.extractable())) {
      if (Boolean.TRUE.equals(a.local()) && !Boolean.TRUE.equals(a.neverExtractable())) {
        return "was extractable once (CKA_NEVER_EXTRACTABLE=false)";
      }
      return null;
    }
    if (Boolean.TRUE.equals(a.extractable()) && Boolean.TRUE.equals(a.wrapWithTrusted())) {
      return null;
    }
    return "is extractable without CKA_WRAP_WITH_TRUSTED (it could be wrapped out under any key)";
  }

  private final Map<String, String> admitted = new ConcurrentHashMap<>();

  private String pinnedKcv(String id) {
    String v = admitted.get(id);
    return v != null ? v : cfg.expectedKcvs().get(id);
  }

  /**
   * Admits long-term keys that were not generated in this token — restored from a backup by
   * {@link KeyCeremony#restoreLongTermKey} — by their key check values, for this adapter's
   * lifetime, as {@link HsmConfig#expectedKcvs()} does at the next start once the key manifest
   * records them. The caller has authenticated the values (the backup file's MAC).
   */
  public void admitRestoredKeys(Map<String, String> kcvsById) {
    admitted.putAll(Map.copyOf(kcvsById));
  }

  /**
   * The spec of a long-term key from its attributes. {@code restored}: SoftHSM2 reports
   * CKA_VALUE_LEN 0 for every unwrapped key, so an unknown length of a restored key is taken as
   * 32; the caller then requires the key's pinned key check value, which a key of any other
   * length or value does not have.
   */
  static KeySpec specOf(String id, AttributeVector a, boolean restored) throws HsmException {
    KeyAlgorithm alg;
    Long type = a.keyType();
    Integer len = a.valueLen();
    if (restored && (len == null || len == 0)) {
      len = 32;
    }
    if (type != null && type == CKK_GENERIC_SECRET && len != null && len == 32) {
      alg = KeyAlgorithm.HMAC_SHA256;
    } else if (type != null && type == CKK_AES && len != null && (len == 16 || len == 32)) {
      alg = len == 16 ? KeyAlgorithm.AES_128 : KeyAlgorithm.AES_256;
    } else {
      throw new HsmPolicyException("key " + id + " has an unsupported type or length");
    }
    List<KeyUsage> u = new ArrayList<>();
    if (Boolean.TRUE.equals(a.derive())) {
      u.add(KeyUsage.DERIVE);
    }
    if (Boolean.TRUE.equals(a.sign())) {
      u.add(KeyUsage.SIGN);
    }
    if (Boolean.TRUE.equals(a.verify())) {
      u.add(KeyUsage.VERIFY);
    }
    if (Boolean.TRUE.equals(a.encrypt()) || Boolean.TRUE.equals(a.decrypt())
        || Boolean.TRUE.equals(a.wrap()) || Boolean.TRUE.equals(a.unwrap()) || u.isEmpty()) {
      throw new HsmPolicyException("long-term key " + id + " grants usages outside its"
          + " purpose (only DERIVE, or SIGN/VERIFY, are allowed for long-term keys)");
    }
    return KeySpec.of(alg, java.util.EnumSet.copyOf(u));
  }

  /**
   * The key check value: 8 bytes, hex. DERIVE keys: HMAC-SHA-256 of a fixed string under a key
   * derived from them with the KCV context; MAC keys: their MAC of the fixed string. No protocol
   * context equals the KCV context, so the KCV reveals nothing that protects data.
   */
  private String computeKcv(Generation g, Session s, long handle, KeySpec spec)
      throws HsmException {
    try {
      return kcvOf(s, handle, spec, false, g);
    } catch (PKCS11Exception e) {
      HsmException he = Ckr.translate(Ckr.Op.SIGN, "key check value", e);
      if (he.isRetryable()) {
        markBroken(g, he);
      }
      throw he;
    }
  }

  /**
   * The key check value of {@code handle} in session {@code s} (see {@link #computeKcv}); with
   * {@code publicObjects} the intermediate key is a public session object, as a Security Officer
   * session requires.
   */
  static String kcvOf(Session s, long handle, KeySpec spec, boolean publicObjects)
      throws PKCS11Exception {
    return kcvOf(s, handle, spec, publicObjects, null);
  }

  /** As above; the intermediate key is counted in {@code g}'s session objects, if given. */
  private static String kcvOf(Session s, long handle, KeySpec spec, boolean publicObjects,
      Generation g) throws PKCS11Exception {
    byte[] mac;
    if (spec.allows(KeyUsage.DERIVE)) {
      long derived = s.deriveKey(deriveMechanism(KCV_CONTEXT), handle,
          Templates.sessionKey(KCV_KEY, false).private_(!publicObjects));
      if (g != null) {
        g.objectsCreated.incrementAndGet();
      }
      try {
        mac = s.signSingle(new Mechanism(CKM_SHA256_HMAC), derived, KCV_CONTEXT);
      } finally {
        s.destroyObject(derived);
        if (g != null) {
          g.objectsDestroyed.incrementAndGet();
        }
      }
    } else {
      mac = s.signSingle(macMechanism(spec), handle, KCV_CONTEXT);
    }
    return HexFormat.of().formatHex(mac, 0, 8);
  }

  static Mechanism deriveMechanism(byte[] context) {
    return new Mechanism(CKM_AES_ECB_ENCRYPT_DATA, new KEY_DERIVATION_STRING_DATA(sha256(context)));
  }

  static Mechanism macMechanism(KeySpec spec) {
    return new Mechanism(spec.algorithm().isAes() ? CKM_AES_CMAC : CKM_SHA256_HMAC);
  }

  /** One digest per thread: every derivation hashes its context; no provider look-up each time. */
  private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 missing from the JDK", e);
    }
  });

  static byte[] sha256(byte[] data) {
    return SHA256.get().digest(data);
  }


  @Override
  public LongTermKeyInfo generateLongTermKey(String label, int version, KeySpec spec)
      throws HsmException {
    checkName(label, version);
    boolean deriveRoot = spec.usages().equals(java.util.EnumSet.of(KeyUsage.DERIVE))
        && spec.algorithm().isAes();
    boolean macKey = !spec.allows(KeyUsage.DERIVE) && !spec.allows(KeyUsage.ENCRYPT)
        && !spec.allows(KeyUsage.DECRYPT) && !spec.allows(KeyUsage.WRAP)
        && !spec.allows(KeyUsage.UNWRAP);
    if (spec.extractable() || !(deriveRoot || macKey) || spec.algorithm() == KeyAlgorithm.AES_192) {
      throw new HsmPolicyException("long-term keys are AES-128/256 DERIVE roots or MAC keys"
          + " (backup capability is the token's setting, not the spec's); got " + spec);
    }
    String id = id(label, version);
    return withReadGate(g -> {
      synchronized (g.adminLock) {
        try {
          if (g.admin.findObjectsSingle(new AttributeVector().class_(CKO_SECRET_KEY).token(true)
              .label(id), 1).length > 0) {
            throw new HsmPolicyException("key " + id + " already exists");
          }
          long mech = spec.algorithm().isAes() ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN;
          long handle = g.admin.generateKey(new Mechanism(mech),
              Templates.longTermKey(id, spec, cfg.deriveTemplateSupported(),
                  cfg.backupCapableKeys()));
          String kcv = computeKcv(g, g.admin, handle, spec);
          LongTermKeyInfo info = new LongTermKeyInfo(KeyRef.longTerm(label, version, spec), kcv,
              cfg.backupCapableKeys(), false);
          catalog.put(id, info);
          g.handles.put(id, handle);
          LOG.info("generated long-term key {} ({}), kcv {}", id, spec, kcv);
          return info;
        } catch (PKCS11Exception e) {
          HsmException he = Ckr.translate(Ckr.Op.GENERATE, id, e);
          if (he.isRetryable()) {
            markBroken(g, he);
          }
          throw he;
        }
      }
    });
  }

  @Override
  public List<LongTermKeyInfo> listLongTermKeys() throws HsmException {
    List<String> ids = withReadGate(g -> {
      synchronized (g.adminLock) {
        try {
          List<String> out = new ArrayList<>();
          for (long h : g.admin.findAllObjectsSingle(new AttributeVector()
              .class_(CKO_SECRET_KEY).token(true))) {
            String l = g.admin.getStringAttrValue(h, CKA_LABEL);
            if (l != null && l.contains(VERSION_SEP)) {
              out.add(l.trim());
            }
          }
          return out;
        } catch (PKCS11Exception e) {
          throw Ckr.translate(Ckr.Op.FIND, "long-term keys", e);
        }
      }
    });
    List<LongTermKeyInfo> infos = new ArrayList<>();
    for (String id : ids) {
      int sep = id.lastIndexOf(VERSION_SEP);
      try {
        String label = id.substring(0, sep);
        int version = Integer.parseInt(id.substring(sep + VERSION_SEP.length()));
        infos.add(withReadGate(g -> loadKey(g, label, version)));
      } catch (NumberFormatException e) {
        LOG.debug("skipping token key with foreign label");
      }
    }
    infos.sort((a, b) -> id(a.label(), a.version()).compareTo(id(b.label(), b.version())));
    return infos;
  }

  // ---------------------------------------------------------------- Ed25519 (audit checkpoints)

  private static void checkEd25519Label(String label) throws HsmPolicyException {
    if (label == null || !LABEL.matcher(label).matches()) {
      throw new HsmPolicyException("key label must match " + LABEL.pattern());
    }
  }

  /** The private (CKO_PRIVATE_KEY) or public half of Ed25519 key pair {@code label}; -1 if none. */
  private static long findEdwards(Generation g, long objectClass, String label)
      throws PKCS11Exception, HsmException {
    long[] found = g.admin.findObjectsSingle(new AttributeVector().class_(objectClass)
        .keyType(CKK_EC_EDWARDS).token(true).label(label), 2);
    if (found.length > 1) {
      throw new HsmMisconfigurationException("two Ed25519 keys labelled " + label);
    }
    return found.length == 0 ? -1 : found[0];
  }

  private <T> T edwards(String what, String label, GenerationTask<T> task) throws HsmException {
    checkEd25519Label(label);
    return withReadGate(g -> {
      synchronized (g.adminLock) {
        try {
          return task.run(g);
        } catch (HsmException e) {
          throw e;
        } catch (RuntimeException e) {
          if (e.getCause() instanceof PKCS11Exception pe) {
            HsmException he = Ckr.translate(Ckr.Op.SIGN, what + " " + label, pe);
            if (he.isRetryable()) {
              markBroken(g, he);
            }
            throw he;
          }
          throw e;
        }
      }
    });
  }

  @FunctionalInterface
  private interface P11<T> {
    T call() throws PKCS11Exception, HsmException;
  }

  private <T> T p11(Generation g, Ckr.Op op, String what, P11<T> call) throws HsmException {
    try {
      return call.call();
    } catch (PKCS11Exception e) {
      HsmException he = Ckr.translate(op, what, e);
      if (he.isRetryable()) {
        markBroken(g, he);
      }
      throw he;
    }
  }

  @Override
  public byte[] generateEd25519Key(String label) throws HsmException {
    return edwards("generate Ed25519", label, g -> p11(g, Ckr.Op.GENERATE, label, () -> {
      if (findEdwards(g, CKO_PRIVATE_KEY, label) >= 0 || findEdwards(g, CKO_PUBLIC_KEY, label) >= 0) {
        throw new HsmPolicyException("Ed25519 key " + label + " already exists");
      }
      PKCS11KeyPair kp = g.admin.generateKeyPair(new Mechanism(CKM_EC_EDWARDS_KEY_PAIR_GEN),
          Templates.ed25519SigningKeyPair(label));
      LOG.info("generated Ed25519 key pair {} in the token", label);
      return EcPoints.ed25519Point(g.admin.getAttrValues(kp.getPublicKey(), CKA_EC_POINT)
          .ecPoint());
    }));
  }

  @Override
  public byte[] ed25519PublicKey(String label) throws HsmException {
    return edwards("read Ed25519", label, g -> p11(g, Ckr.Op.FIND, label, () -> {
      long priv = findEdwards(g, CKO_PRIVATE_KEY, label);
      long pub = findEdwards(g, CKO_PUBLIC_KEY, label);
      if (priv < 0 || pub < 0) {
        throw new KeyNotFoundException("no Ed25519 key pair " + label + " in token '"
            + cfg.tokenLabel() + "'");
      }
      AttributeVector a = g.admin.getAttrValues(priv, CKA_SENSITIVE, CKA_EXTRACTABLE,
          CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL);
      if (!Boolean.TRUE.equals(a.sensitive()) || !Boolean.FALSE.equals(a.extractable())
          || !Boolean.TRUE.equals(a.alwaysSensitive())
          || !Boolean.TRUE.equals(a.neverExtractable()) || !Boolean.TRUE.equals(a.local())) {
        throw new HsmPolicyException("Ed25519 key " + label + " was not generated in the token as"
            + " always sensitive and never extractable; refusing to use it");
      }
      return EcPoints.ed25519Point(g.admin.getAttrValues(pub, CKA_EC_POINT).ecPoint());
    }));
  }

  @Override
  public byte[] signEd25519(String label, byte[] message) throws HsmException {
    if (message == null || message.length == 0) {
      throw new HsmPolicyException("nothing to sign");
    }
    byte[] msg = message.clone();
    return edwards("sign Ed25519", label, g -> p11(g, Ckr.Op.SIGN, label, () -> {
      long priv = findEdwards(g, CKO_PRIVATE_KEY, label);
      if (priv < 0) {
        throw new KeyNotFoundException("no Ed25519 key " + label + " in token '"
            + cfg.tokenLabel() + "'");
      }
      return g.admin.signSingle(new Mechanism(CKM_EDDSA), priv, msg);
    }));
  }

  // ---------------------------------------------------------------- data objects

  private static final int MAX_DATA_OBJECT = 64 * 1024;
  private static final int MAX_DATA_OBJECTS = 1024;

  private static AttributeVector dataObject(String label) {
    return new AttributeVector().class_(CKO_DATA).token(true).private_(true).label(label);
  }

  @Override
  public List<byte[]> readDataObjects(String label) throws HsmException {
    checkEd25519Label(label);
    return withReadGate(g -> {
      synchronized (g.adminLock) {
        return p11(g, Ckr.Op.FIND, "data object " + label, () -> {
          List<byte[]> out = new ArrayList<>();
          for (long h : g.admin.findAllObjectsSingle(dataObject(label))) {
            try {
              byte[] v = g.admin.getAttrValues(h, CKA_VALUE).value();
              out.add(v == null ? new byte[0] : v);
            } catch (PKCS11Exception e) {
              if (e.getErrorCode() != CKR_OBJECT_HANDLE_INVALID) {
                throw e;
              }
              // destroyed by another process's replaceDataObject between find and read
            }
          }
          return out;
        });
      }
    });
  }

  @Override
  public void replaceDataObjects(String label, List<byte[]> values) throws HsmException {
    checkEd25519Label(label);
    if (values == null || values.isEmpty() || values.size() > MAX_DATA_OBJECTS) {
      throw new HsmPolicyException("a replacement holds 1.." + MAX_DATA_OBJECTS + " data objects");
    }
    List<byte[]> vs = new ArrayList<>(values.size());
    for (byte[] value : values) {
      if (value == null || value.length == 0 || value.length > MAX_DATA_OBJECT) {
        throw new HsmPolicyException("a data object holds 1.." + MAX_DATA_OBJECT + " bytes");
      }
      vs.add(value.clone());
    }
    withReadGate(g -> {
      synchronized (g.adminLock) {
        return p11(g, Ckr.Op.GENERATE, "data object " + label, () -> {
          long[] before = g.admin.findAllObjectsSingle(dataObject(label));
          List<Long> created = new ArrayList<>(vs.size());
          try {
            for (byte[] v : vs) {
              created.add(g.admin.createObject(dataObject(label).modifiable(false).value(v)));
            }
          } catch (PKCS11Exception | RuntimeException e) {
            for (long h : created) {
              try {
                g.admin.destroyObject(h);
              } catch (PKCS11Exception | RuntimeException ignored) {
                // best effort: a reader ignores an incomplete set, the next write removes it
              }
            }
            throw e;
          }
          for (long h : before) {
            if (created.contains(h)) {
              continue;
            }
            try {
              g.admin.destroyObject(h);
            } catch (PKCS11Exception e) {
              if (e.getErrorCode() != CKR_OBJECT_HANDLE_INVALID) {
                throw e;
              }
            }
          }
          return null;
        });
      }
    });
  }

  @Override
  public long countSessionObjects() throws HsmException {
    return withReadGate(g -> {
      synchronized (g.adminLock) {
        try {
          return (long) g.admin.findAllObjectsSingle(new AttributeVector().token(false)).length;
        } catch (PKCS11Exception e) {
          throw Ckr.translate(Ckr.Op.FIND, "session objects", e);
        }
      }
    });
  }

  private interface GenerationTask<T> {
    T run(Generation g) throws HsmException;
  }

  private <T> T withReadGate(GenerationTask<T> task) throws HsmException {
    try {
      if (!gate.readLock().tryLock(cfg.borrowTimeout().toNanos(), TimeUnit.NANOSECONDS)) {
        throw new HsmUnavailableException("HSM busy: re-initialisation in progress");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HsmUnavailableException("interrupted while waiting for the HSM");
    }
    try {
      return task.run(readyGeneration());
    } catch (RuntimeException e) {
      if (e.getCause() instanceof TokenException) {
        throw new HsmUnavailableException("HSM error: " + e.getCause().getMessage(),
            HsmException.NO_CKR, e);
      }
      throw e;
    } finally {
      gate.readLock().unlock();
    }
  }

  // ---------------------------------------------------------------- status

  @Override
  public HsmCapabilities capabilities() {
    return capabilities;
  }

  @Override
  public HsmStatus status() {
    Generation g = gen;
    boolean ready = !closed && (g != null ? !g.broken : recycling);
    return new HsmStatus(ready, g == null ? generations.get() : g.number, cfg.poolSize(),
        g == null ? 0 : g.inUse.get(), g == null ? 0 : g.objectsCreated.get(),
        g == null ? 0 : g.objectsLive(), g == null || g.shared == null ? 0 : g.shared.size(),
        recycles.get(), recoveries.get(), lastError);
  }

  @Override
  public String toString() {
    return "Pkcs11Hsm[" + cfg + "]";
  }
}
