package io.imskms.hsm;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.xipki.pkcs11.wrapper.PKCS11Exception;
import org.xipki.pkcs11.wrapper.Session;

/**
 * The shared session keys of one module generation ({@link HsmSession#deriveShared}): a bounded,
 * least-recently-used map from a caller's name to a session object, with a reference count per
 * entry so that an eviction never destroys a key a request is using.
 *
 * <p>Ownership: PKCS#11 destroys a session object when the session that created it closes, and
 * the adapter closes a pooled session whenever an error leaves it in doubt. So shared keys are
 * not created in the borrowing session but in one of a few <em>keeper</em> sessions, which do
 * nothing else (a derive or a destroy, one thread at a time under the keeper's monitor) and close
 * only with the generation. Every session of the application can use a session object by its
 * handle (PKCS#11 v2.40 section 4.4); the base key of the derive is the borrowing session's.
 *
 * <p>Never holds a key value: a handle, the key's spec and the caller's name (for the KMS, a
 * B-TID, which is not secret).
 */
final class SharedKeys {
  /** A keeper session; used only while its monitor is held. */
  static final class Keeper {
    final Session session;

    Keeper(Session session) {
      this.session = session;
    }
  }

  /** One shared key. Mutable fields are guarded by the owning {@link SharedKeys}. */
  static final class Entry {
    final Name name;
    final long handle;
    final KeySpec spec;
    final long notAfterMillis;
    final Keeper keeper;
    int refs;
    /** No longer findable (evicted, expired or a duplicate): destroyed when refs reaches 0. */
    boolean removed;

    Entry(Name name, long handle, KeySpec spec, long notAfterMillis, Keeper keeper) {
      this.name = name;
      this.handle = handle;
      this.spec = spec;
      this.notAfterMillis = notAfterMillis;
      this.keeper = keeper;
    }
  }

  /** A name compared by content. */
  static final class Name {
    private final byte[] bytes;
    private final int hash;

    Name(byte[] bytes) {
      this.bytes = bytes.clone();
      this.hash = Arrays.hashCode(this.bytes);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Name n && n.hash == hash && Arrays.equals(n.bytes, bytes);
    }

    @Override
    public int hashCode() {
      return hash;
    }

    @Override
    public String toString() {
      return "Name[" + bytes.length + " bytes]";
    }
  }

  private final int capacity;
  private final Keeper[] keepers;
  private final LinkedHashMap<Name, Entry> map;

  SharedKeys(int capacity, List<Session> keeperSessions) {
    this.capacity = capacity;
    this.keepers = keeperSessions.stream().map(Keeper::new).toArray(Keeper[]::new);
    this.map = new LinkedHashMap<>(Math.min(capacity, 1024) * 2, 0.75f, true);
  }

  /** How many keeper sessions a pool of {@code poolSize} sessions gets: one per four, at least 1. */
  static int keeperCount(int poolSize) {
    return Math.max(1, poolSize / 4);
  }

  Keeper keeperForCurrentThread() {
    return keepers[(int) Math.floorMod(Thread.currentThread().getId(), (long) keepers.length)];
  }

  List<Session> keeperSessions() {
    List<Session> out = new ArrayList<>(keepers.length);
    for (Keeper k : keepers) {
      out.add(k.session);
    }
    return out;
  }

  /** Findable entries now. */
  synchronized int size() {
    return map.size();
  }

  /**
   * The entry named {@code name}, with one more reference, or null. An expired entry is removed
   * instead; if nobody uses it, it is added to {@code toDestroy}.
   */
  synchronized Entry acquire(Name name, long nowMillis, List<Entry> toDestroy) {
    Entry e = map.get(name);
    if (e == null) {
      return null;
    }
    if (nowMillis > e.notAfterMillis) {
      map.remove(name);
      removeLocked(e, toDestroy);
      return null;
    }
    e.refs++;
    return e;
  }

  /**
   * Adds a new entry (already holding its creator's reference). If the name is taken (two
   * requests missed at once), the existing entry stays and the new one is removed at once, to be
   * destroyed when its creator releases it. Entries beyond the capacity are evicted, least
   * recently used first; those nobody uses go to {@code toDestroy}.
   */
  synchronized void put(Entry e, List<Entry> toDestroy) {
    e.refs = 1;
    if (map.putIfAbsent(e.name, e) != null) {
      e.removed = true;
      return;
    }
    Iterator<Map.Entry<Name, Entry>> it = map.entrySet().iterator();
    while (map.size() > capacity && it.hasNext()) {
      Entry old = it.next().getValue();
      it.remove();
      removeLocked(old, toDestroy);
    }
  }

  /** Drops one reference; true if the entry must now be destroyed by the caller. */
  synchronized boolean release(Entry e) {
    e.refs--;
    return e.removed && e.refs == 0;
  }

  private static void removeLocked(Entry e, List<Entry> toDestroy) {
    e.removed = true;
    if (e.refs == 0) {
      toDestroy.add(e);
    }
  }

  /** C_DestroyObject of a removed entry in its keeper session. */
  static void destroy(Entry e) throws PKCS11Exception {
    synchronized (e.keeper) {
      e.keeper.session.destroyObject(e.handle);
    }
  }
}
