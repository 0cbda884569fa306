package io.imskms.core.keys;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmCapabilities;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmMisconfigurationException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.LongTermKeyInfo;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Objects;
import java.util.Optional;
import java.util.StringJoiner;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The long-term key hierarchy of the KMS as it exists in the token: for each {@link KeyPurpose},
 * every version present ({@code label#vN}) and which one is active.
 *
 * <p>New messages (B-TIDs, tickets, media keys) use the {@linkplain #active active} version and
 * carry its number; incoming messages are checked with the {@linkplain #version version} they
 * name, so a {@linkplain #rotate rotation} does not orphan anything made before it. The active
 * version is the highest one in the token unless {@link #load(Hsm, Map)} pins another.
 *
 * <p>Security guarantees: keys are generated inside the token by the adapter (sensitive, never
 * extractable) and are only ever named here, by {@link KeyRef}. Every token key whose label
 * belongs to a purpose must have exactly that purpose's spec ({@code KeySpec}), or loading fails:
 * a key with the right label but the wrong type or usages is never used. {@link #writeManifest}
 * records each key's check value and refuses to overwrite a record that disagrees with the token;
 * passing {@link KeyManifest#expectedKcvs()} to the adapter at the next start makes a swapped
 * token fail loudly instead of being used.
 *
 * <p>Lifecycle: each version is active, decrypt-only or retired ({@link KeyState}), as recorded
 * in the token's {@link KeyLifecycle} document ({@link KeyLifecycleStore}). {@link #version}
 * refuses a retired version with {@link KeyRetiredException}; {@link #active} is always the one
 * ACTIVE version. {@link #rotate(KeyPurpose, Duration)} and {@link #setState} change the shared
 * document; {@link #refresh()} re-reads token keys and document (a server calls it every poll
 * interval, never per request).
 *
 * <p>Thread-safe: lookups read an immutable snapshot; {@link #rotate}, {@link #setState},
 * {@link #refresh} and {@link #writeManifest} are serialised. A ring sees keys generated and
 * states changed by another process (e.g. the command-line tool) only after {@link #refresh()}.
 */
public final class KeyRing {
  private static final Logger LOG = LoggerFactory.getLogger(KeyRing.class);

  private final Hsm hsm;
  private final KeyLifecycleStore store;
  private final Object writeLock = new Object();
  /** When this ring generated a key, by {@code label#vN}; recorded in the manifest. */
  private final Map<String, Instant> generatedAt = new ConcurrentHashMap<>();
  private volatile State state;

  private KeyRing(Hsm hsm, KeyLifecycleStore store, State state) {
    this.hsm = hsm;
    this.store = store;
    this.state = state;
  }

  private static KeyRing make(Hsm hsm, Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> v,
      Map<KeyPurpose, Integer> pins) throws HsmException {
    KeyLifecycleStore store = new KeyLifecycleStore(hsm);
    return new KeyRing(hsm, store, State.of(v, pins, store.read(), now()));
  }

  /**
   * Finds every version of every purpose in the token; the active version of each purpose is
   * the highest.
   *
   * @throws HsmMisconfigurationException if a purpose has no key in the token (the message names
   *     every missing one; see {@link #ensureProvisioned}) or a key under a purpose's label has
   *     the wrong spec
   * @throws HsmException if the token cannot be read
   */
  public static KeyRing load(Hsm hsm) throws HsmException {
    Objects.requireNonNull(hsm, "hsm");
    return make(hsm, complete(scan(hsm)), Map.of());
  }

  /**
   * Like {@link #load(Hsm)}, but the active version of each purpose in {@code activeVersions} is
   * the given one instead of the highest (for example to stage a rotation: generate everywhere
   * first, activate later, or to step back to an older version).
   *
   * @throws UnknownKeyVersionException if a pinned version is not in the token
   * @throws HsmMisconfigurationException as for {@link #load(Hsm)}
   * @throws HsmException if the token cannot be read
   */
  public static KeyRing load(Hsm hsm, Map<KeyPurpose, Integer> activeVersions)
      throws HsmException, UnknownKeyVersionException {
    Objects.requireNonNull(hsm, "hsm");
    Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions = complete(scan(hsm));
    Map<KeyPurpose, Integer> pins = new EnumMap<>(KeyPurpose.class);
    pins.putAll(activeVersions);
    for (Map.Entry<KeyPurpose, Integer> pin : pins.entrySet()) {
      if (!versions.get(pin.getKey()).containsKey(pin.getValue())) {
        throw new UnknownKeyVersionException(pin.getKey(), pin.getValue());
      }
    }
    return make(hsm, versions, pins);
  }

  /**
   * Generates, inside the token, version 1 of every purpose that has no key yet, loads the
   * ring, and records in the lifecycle record every version it does not name yet (creating the
   * record, and its MAC key, on first use). Idempotent: a token that has every purpose and a
   * complete record is only loaded. Call
   * {@link #writeManifest} on the returned ring afterwards to record what was made.
   *
   * @throws HsmMisconfigurationException if a key under a purpose's label has the wrong spec
   * @throws HsmException if the token cannot be read or a key cannot be generated
   */
  public static KeyRing ensureProvisioned(Hsm hsm) throws HsmException {
    Objects.requireNonNull(hsm, "hsm");
    Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions = scan(hsm);
    Map<String, Instant> made = new TreeMap<>();
    for (KeyPurpose p : KeyPurpose.values()) {
      if (!versions.get(p).isEmpty()) {
        continue;
      }
      try {
        LongTermKeyInfo info = hsm.generateLongTermKey(p.label(), 1, p.spec());
        made.put(p.id(1), now());
        LOG.info("provisioned {} ({}), kcv {}", p.id(1), p, info.kcv());
      } catch (HsmPolicyException e) {
        // Another process may have provisioned it meanwhile; the re-scan below tells.
        if (scan(hsm).get(p).isEmpty()) {
          throw e;
        }
      }
    }
    Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> found = complete(scan(hsm));
    KeyRing ring = make(hsm, found, Map.of());
    ring.generatedAt.putAll(made);
    // Record every version in the lifecycle record (the first time: all of them, with their
    // current states), so that later changes and `keys list` have a creation time to show.
    synchronized (ring.writeLock) {
      Instant now = now();
      KeyLifecycle doc = ring.store.read();
      KeyLifecycle full = doc.materialise(KeyLifecycle.versionsOf(found), now);
      if (!full.entries().keySet().equals(doc.entries().keySet())) {
        full = full.successor();
        ring.store.write(full);
        ring.state = State.of(found, Map.of(), full, now);
      }
    }
    return ring;
  }

  /** The version of {@code purpose} that new messages use. */
  public KeyRef active(KeyPurpose purpose) {
    State s = state;
    return s.versions.get(purpose).get(s.active.get(purpose)).ref();
  }

  /** The number of the active version of {@code purpose}, to be carried in messages. */
  public int activeVersion(KeyPurpose purpose) {
    return state.active.get(Objects.requireNonNull(purpose, "purpose"));
  }

  /**
   * A specific version of {@code purpose}, active or not, e.g. the one an incoming B-TID or ticket
   * names.
   *
   * @throws UnknownKeyVersionException if the ring has no such version (it is not in the token,
   *     or appeared there after the last {@link #refresh()})
   */
  public KeyRef version(KeyPurpose purpose, int version)
      throws UnknownKeyVersionException, KeyRetiredException {
    State s = state;
    LongTermKeyInfo info = s.versions.get(Objects.requireNonNull(purpose, "purpose"))
        .get(version);
    if (info == null) {
      throw new UnknownKeyVersionException(purpose, version);
    }
    if (s.effective.get(purpose).get(version).state() == KeyState.RETIRED) {
      throw new KeyRetiredException(purpose, version);
    }
    return info.ref();
  }

  /** The state of one version as this ring last read it, if the ring holds that version. */
  public Optional<KeyState> state(KeyPurpose purpose, int version) {
    KeyLifecycle.Effective e = state.effective.get(purpose).get(version);
    return e == null ? Optional.empty() : Optional.of(e.state());
  }

  /**
   * Stages a rotation of {@code purpose}: generates the next version (highest in the token + 1)
   * inside the token and records it as decrypt-only, to become active at now + {@code staging}.
   * From that instant every node whose ring was refreshed at least once since this call issues
   * with the new version, and the previous active version is decrypt-only. {@code staging} must
   * be longer than two poll intervals of the nodes (plus their clock skew), so that no node
   * issues with a version another node has not read yet.
   *
   * @return the new version's key and its record
   * @throws HsmPolicyException if a rotation of {@code purpose} is already pending
   * @throws HsmException if the token cannot be read or written
   */
  public KeyVersionInfo rotate(KeyPurpose purpose, Duration staging) throws HsmException {
    Objects.requireNonNull(purpose, "purpose");
    if (staging.isNegative()) {
      throw new IllegalArgumentException("staging delay must not be negative");
    }
    synchronized (writeLock) {
      Instant now = now();
      Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions = complete(scan(hsm));
      KeyLifecycle doc = store.read().materialise(KeyLifecycle.versionsOf(versions), now);
      for (KeyLifecycle.Entry e : doc.entries().values()) {
        if (e.purpose() == purpose && e.activateAt().isPresent()) {
          throw new HsmPolicyException("a rotation of " + purpose.label() + " is already staged: "
              + e.id() + " becomes active at " + e.activateAt().get());
        }
      }
      NavigableMap<Integer, LongTermKeyInfo> mine = versions.get(purpose);
      int next = mine.lastKey() + 1;
      LongTermKeyInfo info = hsm.generateLongTermKey(purpose.label(), next, purpose.spec());
      generatedAt.put(purpose.id(next), now);
      mine.put(next, info);
      Instant at = now.plus(staging);
      boolean immediate = !at.isAfter(now);
      doc = doc.with(new KeyLifecycle.Entry(purpose, next,
          immediate ? KeyState.ACTIVE : KeyState.DECRYPT_ONLY, Optional.of(now),
          immediate ? Optional.of(now) : Optional.empty(),
          immediate ? Optional.empty() : Optional.of(at), Optional.empty()));
      if (immediate) {
        doc = doc.withActive(purpose, next, now);
      }
      doc = doc.successor();
      store.write(doc);
      Map<KeyPurpose, Integer> pins = new EnumMap<>(KeyPurpose.class);
      pins.putAll(state.pinned);
      pins.remove(purpose);
      state = State.of(versions, checkedPins(versions, pins), doc, now);
      LOG.info("rotated {}: generated {} (kcv {}), {} at {}", purpose, purpose.id(next),
          info.kcv(), immediate ? "active" : "decrypt-only until it becomes active", at);
      return describe(state).stream()
          .filter(k -> k.purpose() == purpose && k.version() == next).findFirst().orElseThrow();
    }
  }

  /**
   * Changes the recorded state of one version. To ACTIVE: the version must be decrypt-only; it
   * becomes active at the later of now and its creation + {@code staging} (a version every node
   * has known for that long is activated at once), and the active version becomes decrypt-only
   * then. To DECRYPT_ONLY: not the active version (activate another first); cancels a pending
   * activation. To RETIRED: not the active version nor one pending activation; final.
   *
   * @return the version's record after the change
   * @throws UnknownKeyVersionException if the token has no such version
   * @throws HsmPolicyException if the transition is not allowed (the message says why)
   * @throws HsmException if the token cannot be read or written
   */
  public KeyVersionInfo setState(KeyPurpose purpose, int version, KeyState to, Duration staging)
      throws HsmException, UnknownKeyVersionException {
    Objects.requireNonNull(purpose, "purpose");
    Objects.requireNonNull(to, "to");
    synchronized (writeLock) {
      Instant now = now();
      Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions = complete(scan(hsm));
      if (!versions.get(purpose).containsKey(version)) {
        throw new UnknownKeyVersionException(purpose, version);
      }
      KeyLifecycle doc = store.read().materialise(KeyLifecycle.versionsOf(versions), now);
      KeyLifecycle.Entry e = doc.entry(purpose, version).orElseThrow();
      String id = purpose.id(version);
      boolean cancelsStaging = to == KeyState.DECRYPT_ONLY && e.activateAt().isPresent();
      if (!e.state().mayBecome(to) && !cancelsStaging) {
        throw new HsmPolicyException(id + " is " + e.state().cliName() + "; it cannot become "
            + to.cliName() + (e.state() == KeyState.RETIRED ? " (retirement is final)" : ""));
      }
      if (e.state() == KeyState.ACTIVE) {
        throw new HsmPolicyException(id + " is the active version; make another version active"
            + " first (kms keys state " + purpose.label() + " VERSION active or kms keys rotate "
            + purpose.label() + ")");
      }
      if (to == KeyState.RETIRED && e.activateAt().isPresent()) {
        throw new HsmPolicyException(id + " is staged to become active at " + e.activateAt().get()
            + "; set it decrypt-only first");
      }
      KeyLifecycle.Entry changed;
      switch (to) {
        case ACTIVE: {
          Instant at = e.created().map(c -> c.plus(staging)).filter(now::isBefore).orElse(now);
          changed = new KeyLifecycle.Entry(purpose, version, KeyState.DECRYPT_ONLY, e.created(),
              e.activated(), Optional.of(at), Optional.empty());
          break;
        }
        case DECRYPT_ONLY:
          changed = new KeyLifecycle.Entry(purpose, version, KeyState.DECRYPT_ONLY, e.created(),
              e.activated(), Optional.empty(), Optional.empty());
          break;
        default:
          changed = new KeyLifecycle.Entry(purpose, version, KeyState.RETIRED, e.created(),
              e.activated(), Optional.empty(), Optional.of(now));
          break;
      }
      doc = doc.with(changed);
      if (to == KeyState.ACTIVE && !changed.activateAt().get().isAfter(now)) {
        doc = doc.withActive(purpose, version, now);
      }
      doc = doc.successor();
      store.write(doc);
      state = State.of(versions, checkedPins(versions, state.pinned), doc, now);
      LOG.info("{}: state set to {}", id, to.cliName());
      return describe(state).stream()
          .filter(k -> k.purpose() == purpose && k.version() == version).findFirst()
          .orElseThrow();
    }
  }

  /**
   * When the active version of {@code purpose} reaches {@code maxAge} (or will, for a staged
   * rotation: the staged version's activation + {@code maxAge}): the moment a rotation by age is
   * due. Measured from the version's activation, else its creation; empty if neither is known
   * (a key from before lifecycle records: rotate it by hand once).
   */
  public Optional<Instant> nextRotationDue(KeyPurpose purpose, Duration maxAge) {
    Objects.requireNonNull(purpose, "purpose");
    Instant base = null;
    for (KeyVersionInfo k : describe(state)) {
      if (k.purpose() != purpose || k.state() == KeyState.RETIRED) {
        continue;
      }
      // An active version with no recorded activation shows the epoch: use its creation.
      Optional<Instant> since = k.activated().filter(t -> t.isAfter(Instant.EPOCH))
          .or(k::created);
      boolean staged = k.state() == KeyState.DECRYPT_ONLY && k.activated().isPresent()
          && k.activated().get().isAfter(now());
      if (k.state() == KeyState.ACTIVE || staged) {
        if (since.isPresent() && (base == null || since.get().isAfter(base))) {
          base = since.get();
        }
      }
    }
    return base == null ? Optional.empty() : Optional.of(base.plus(maxAge));
  }

  /**
   * Stages a rotation of {@code purpose} ({@link #rotate(KeyPurpose, Duration)}) if, on the
   * lifecycle record read from the token now, its active version has reached {@code maxAge} and
   * no rotation of it is staged or under way; otherwise does nothing. Decided and done on a fresh
   * read under a lock shared by every ring of this token in the process, so two calls never both
   * rotate for the same due date: the second sees the first's staged version. Across processes
   * {@code kms keys rotate --due} holds the CLI's per-host lock; across hosts see
   * docs/architecture.md, "Rotation by age".
   *
   * @return the staged version, or empty if nothing was due
   */
  public Optional<KeyVersionInfo> rotateIfDue(KeyPurpose purpose, Duration maxAge,
      Duration staging) throws HsmException {
    Objects.requireNonNull(maxAge, "maxAge");
    if (maxAge.isNegative() || maxAge.isZero()) {
      throw new IllegalArgumentException("maximum age must be positive");
    }
    synchronized (rotationLock(hsm)) {
      synchronized (writeLock) {
        refresh();
        if (!dueNow(purpose, maxAge)) {
          return Optional.empty();
        }
        try {
          return Optional.of(rotate(purpose, staging));
        } catch (HsmPolicyException e) {
          // Another run got there between our read and our generation ("already staged", "key
          // ... already exists"): if a rotation is now under way, that is the one; else a real
          // refusal.
          refresh();
          if (!dueNow(purpose, maxAge)) {
            return Optional.empty();
          }
          throw e;
        }
      }
    }
  }

  /** Serialises rotations by age of every ring of one token in this process. */
  private static final Map<Hsm, Object> ROTATION_LOCKS =
      Collections.synchronizedMap(new java.util.WeakHashMap<>());

  private static Object rotationLock(Hsm hsm) {
    return ROTATION_LOCKS.computeIfAbsent(hsm, h -> new Object());
  }

  /**
   * Whether a rotation by age of {@code purpose} is due on this ring's current state: the active
   * version reached {@code maxAge}, nothing is staged, and no version newer than the recorded
   * ones is in the token (another run generated it and is about to record it).
   */
  private boolean dueNow(KeyPurpose purpose, Duration maxAge) {
    Optional<Instant> due = nextRotationDue(purpose, maxAge);
    if (due.isEmpty() || due.get().isAfter(now())) {
      return false;
    }
    State s = state;
    int active = s.active.get(purpose);
    for (KeyVersionInfo k : describe(s)) {
      if (k.purpose() != purpose) {
        continue;
      }
      if (k.state() == KeyState.DECRYPT_ONLY && k.activated().isPresent()
          && k.activated().get().isAfter(now())) {
        return false; // staged already (by another run)
      }
      if (k.version() > active && s.lifecycle.entry(purpose, k.version()).isEmpty()) {
        return false; // generated by another run that has not recorded it yet
      }
    }
    return true;
  }

  /**
   * Generates the next version of {@code purpose} (highest in the token + 1) inside the token and
   * makes it active at once, without staging (dropping a pin of that purpose): for a single
   * process; with several nodes use {@link #rotate(KeyPurpose, Duration)}. Older versions stay available through
   * {@link #version} for verifying and unwrapping what was made with them. Call
   * {@link #writeManifest} afterwards to record the new key.
   *
   * @return the new active version
   * @throws HsmException if the token cannot be read or the key cannot be generated
   */
  public KeyRef rotate(KeyPurpose purpose) throws HsmException {
    return rotate(purpose, Duration.ZERO).key().ref();
  }

  /**
   * Reads the token's keys and the lifecycle record again, e.g. after another process rotated
   * one, and applies staged activations that are due. Purposes pinned at load keep their pin.
   *
   * @throws HsmMisconfigurationException if a purpose has no key any more, a pinned version
   *     disappeared, or a key has the wrong spec; the ring is then left as it was
   * @throws HsmIntegrityException if the lifecycle record does not verify or went back to an
   *     older sequence; the ring is then left as it was
   * @return what changed, one line per version that appeared or changed state (for the log and
   *     the audit trail); empty if nothing did
   * @throws HsmException if the token cannot be read
   */
  public List<String> refresh() throws HsmException {
    synchronized (writeLock) {
      List<String> changes = new ArrayList<>();
      Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions = complete(scan(hsm));
      KeyLifecycle doc = store.read();
      State old = state;
      if (doc.sequence() < old.lifecycle.sequence()) {
        throw new HsmIntegrityException("the key lifecycle record in the token went back from"
            + " sequence " + old.lifecycle.sequence() + " to " + doc.sequence()
            + " (token files restored?); keeping the last good state");
      }
      state = State.of(versions, checkedPins(versions, old.pinned), doc, now());
      for (KeyPurpose p : KeyPurpose.values()) {
        for (Map.Entry<Integer, KeyLifecycle.Effective> e : state.effective.get(p).entrySet()) {
          KeyLifecycle.Effective before = old.effective.get(p).get(e.getKey());
          if (before == null || before.state() != e.getValue().state()) {
            String c = p.id(e.getKey()) + (before == null ? " appeared, " : " is now ")
                + e.getValue().state().cliName();
            LOG.info("{}", c);
            changes.add(c);
          }
        }
      }
      for (KeyPurpose p : KeyPurpose.values()) {
        if (!old.active.get(p).equals(state.active.get(p))) {
          LOG.info("{}: active version is now {}", p, p.id(state.active.get(p)));
        }
        for (Integer v : old.versions.get(p).keySet()) {
          if (!versions.get(p).containsKey(v)) {
            LOG.warn("{} is no longer in the token; messages made with it cannot be served",
                p.id(v));
            changes.add(p.id(v) + " vanished from the token");
          }
        }
      }
      return changes;
    }
  }

  /**
   * Every version of every purpose, in purpose order and by ascending version, with its key
   * check value and whether it is active. Safe to print.
   */
  public List<KeyVersionInfo> describe() {
    return Collections.unmodifiableList(describe(state));
  }

  /**
   * Writes the {@link KeyManifest} of the ring's keys to {@code file}, atomically. Creation times
   * are those of keys this ring generated, else those already recorded in the file, else null.
   * If the file exists, every key it records must still be in the ring with the same key check
   * value: otherwise this refuses to overwrite it, since the disagreement means the token is not
   * the one the record was made for (or a key was deleted by hand).
   *
   * @throws KeyManifestException if the existing file is malformed or disagrees with the token
   * @throws IOException if the file cannot be read or written
   */
  public void writeManifest(Path file) throws IOException {
    Objects.requireNonNull(file, "file");
    synchronized (writeLock) {
      State s = state;
      KeyManifest existing;
      try {
        existing = KeyManifest.read(file);
      } catch (NoSuchFileException e) {
        existing = null;
      }
      Map<String, KeyManifest.Entry> recorded = new TreeMap<>();
      if (existing != null) {
        for (KeyManifest.Entry e : existing.entries()) {
          LongTermKeyInfo now = s.versions.get(e.purpose()).get(e.version());
          if (now == null) {
            throw new KeyManifestException("key manifest " + file + " records " + e.id()
                + " (kcv " + e.kcv() + "), which is not in the token: wrong token, or the key was"
                + " deleted; refusing to overwrite the record");
          }
          if (!now.kcv().equals(e.kcv())) {
            throw new KeyManifestException("key manifest " + file + " records " + e.id()
                + " with kcv " + e.kcv() + ", but the token's key has kcv " + now.kcv()
                + ": a different token? refusing to overwrite the record");
          }
          recorded.put(e.id(), e);
        }
      }
      List<KeyManifest.Entry> entries = new ArrayList<>();
      for (KeyVersionInfo k : describe(s)) {
        String id = k.purpose().id(k.version());
        Optional<Instant> created = Optional.ofNullable(generatedAt.get(id));
        if (created.isEmpty() && recorded.containsKey(id)) {
          created = recorded.get(id).created();
        }
        entries.add(new KeyManifest.Entry(k.purpose(), k.version(), k.kcv(), created));
      }
      HsmCapabilities caps = hsm.capabilities();
      String token = caps != null ? caps.tokenLabel()
          : existing != null ? existing.token().orElse(null) : null;
      new KeyManifest(token, entries).write(file);
      LOG.info("wrote key manifest {} ({} keys)", file, entries.size());
    }
  }

  @Override
  public String toString() {
    State s = state;
    StringJoiner j = new StringJoiner(", ", "KeyRing[", "]");
    for (KeyPurpose p : KeyPurpose.values()) {
      j.add(p.id(s.active.get(p)) + " of " + s.versions.get(p).size());
    }
    return j.toString();
  }

  // ------------------------------------------------------------------ internals

  private List<KeyVersionInfo> describe(State s) {
    List<KeyVersionInfo> out = new ArrayList<>();
    for (KeyPurpose p : KeyPurpose.values()) {
      for (LongTermKeyInfo info : s.versions.get(p).values()) {
        KeyLifecycle.Effective e = s.effective.get(p).get(info.version());
        Optional<Instant> created = e.created().or(() -> Optional.ofNullable(
            generatedAt.get(p.id(info.version()))));
        out.add(new KeyVersionInfo(p, info, s.active.get(p) == info.version() ? KeyState.ACTIVE
            : e.state() == KeyState.ACTIVE ? KeyState.DECRYPT_ONLY : e.state(), created,
            e.activated(), e.retired()));
      }
    }
    return out;
  }

  private static Instant now() {
    return Instant.now().truncatedTo(ChronoUnit.SECONDS);
  }

  /** Every key of every purpose in the token, checked against the purpose's spec. */
  private static Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> scan(Hsm hsm)
      throws HsmException {
    Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions =
        new EnumMap<>(KeyPurpose.class);
    for (KeyPurpose p : KeyPurpose.values()) {
      versions.put(p, new TreeMap<>());
    }
    for (LongTermKeyInfo info : hsm.listLongTermKeys()) {
      Optional<KeyPurpose> purpose = KeyPurpose.ofLabel(info.label());
      if (purpose.isEmpty()) {
        continue; // another application's key, or a test key
      }
      KeyPurpose p = purpose.get();
      if (!info.spec().equals(p.spec())) {
        throw new HsmMisconfigurationException("token key " + p.id(info.version()) + " is "
            + info.spec() + ", but " + p.label() + " keys must be " + p.spec()
            + "; refusing to use it (remove or relabel it)");
      }
      versions.get(p).put(info.version(), info);
    }
    return versions;
  }

  private static Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> complete(
      Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions)
      throws HsmMisconfigurationException {
    StringJoiner missing = new StringJoiner(", ");
    for (KeyPurpose p : KeyPurpose.values()) {
      if (versions.get(p).isEmpty()) {
        missing.add(p.label());
      }
    }
    if (missing.length() > 0) {
      throw new HsmMisconfigurationException("the token has no key for " + missing
          + "; provision the key hierarchy first (KeyRing.ensureProvisioned)");
    }
    return versions;
  }

  private static Map<KeyPurpose, Integer> checkedPins(
      Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions,
      Map<KeyPurpose, Integer> pins) throws HsmMisconfigurationException {
    for (Map.Entry<KeyPurpose, Integer> pin : pins.entrySet()) {
      if (!versions.get(pin.getKey()).containsKey(pin.getValue())) {
        throw new HsmMisconfigurationException("the active version "
            + pin.getKey().id(pin.getValue()) + " chosen at load is no longer in the token");
      }
    }
    return pins;
  }

  /** One immutable view of the ring. */
  private static final class State {
    final Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions;
    final Map<KeyPurpose, Integer> active;
    final Map<KeyPurpose, Integer> pinned;
    final KeyLifecycle lifecycle;
    final Map<KeyPurpose, Map<Integer, KeyLifecycle.Effective>> effective;

    private State(Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions,
        Map<KeyPurpose, Integer> active, Map<KeyPurpose, Integer> pinned, KeyLifecycle lifecycle,
        Map<KeyPurpose, Map<Integer, KeyLifecycle.Effective>> effective) {
      this.versions = versions;
      this.active = active;
      this.pinned = pinned;
      this.lifecycle = lifecycle;
      this.effective = effective;
    }

    /**
     * Freezes a complete scan and the lifecycle record at {@code now}; pinned purposes use the
     * pinned version (which must not be retired), others the lifecycle's active one.
     */
    static State of(Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> versions,
        Map<KeyPurpose, Integer> pins, KeyLifecycle lifecycle, Instant now)
        throws HsmMisconfigurationException {
      Map<KeyPurpose, NavigableMap<Integer, LongTermKeyInfo>> frozen =
          new EnumMap<>(KeyPurpose.class);
      Map<KeyPurpose, Integer> active = new EnumMap<>(KeyPurpose.class);
      Map<KeyPurpose, Map<Integer, KeyLifecycle.Effective>> effective =
          new EnumMap<>(KeyPurpose.class);
      for (KeyPurpose p : KeyPurpose.values()) {
        NavigableMap<Integer, LongTermKeyInfo> v = versions.get(p);
        frozen.put(p, Collections.unmodifiableNavigableMap(new TreeMap<>(v)));
        Map<Integer, KeyLifecycle.Effective> eff;
        try {
          eff = lifecycle.effective(p, v.navigableKeySet(), now);
        } catch (IllegalStateException e) {
          throw new HsmMisconfigurationException(e.getMessage() + ": nothing to issue with");
        }
        effective.put(p, Collections.unmodifiableMap(eff));
        int a = eff.entrySet().stream().filter(x -> x.getValue().state() == KeyState.ACTIVE)
            .findFirst().orElseThrow().getKey();
        Integer pin = pins.get(p);
        if (pin != null && eff.get(pin) != null
            && eff.get(pin).state() == KeyState.RETIRED) {
          throw new HsmMisconfigurationException("the pinned version " + p.id(pin)
              + " is retired");
        }
        active.put(p, pin != null ? pin : a);
      }
      Map<KeyPurpose, Integer> pinned = new EnumMap<>(KeyPurpose.class);
      pinned.putAll(pins);
      return new State(Collections.unmodifiableMap(frozen), Collections.unmodifiableMap(active),
          Collections.unmodifiableMap(pinned), lifecycle, Collections.unmodifiableMap(effective));
    }
  }
}
