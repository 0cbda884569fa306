package io.imskms.hsm;

import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.Token;

/**
 * Everything that is valid for one C_Initialize of the module: the token, the logged-in sessions
 * and the handles of the long-term keys. Handle numbers restart at 1 after a re-initialise, so a
 * generation's handles are never used in another generation.
 */
final class Generation {
  final long number;
  final Token token;
  /** Used for find/generate/list/count, one thread at a time under {@link #adminLock}. */
  final Session admin;
  final Object adminLock = new Object();
  final BlockingQueue<Session> idle;
  final AtomicInteger inUse = new AtomicInteger();
  /** Session objects created in this generation (every derive, unwrap, generate, import). */
  final AtomicLong objectsCreated = new AtomicLong();
  /**
   * Of those, how many are known to be gone: each successful C_DestroyObject of one, and those a
   * successful C_CloseSession of a dropped session took with it (PKCS#11: closing a session
   * destroys its session objects).
   */
  final AtomicLong objectsDestroyed = new AtomicLong();
  /** Long-term key handles in this generation, by "label#vN". */
  final Map<String, Long> handles = new ConcurrentHashMap<>();
  /** Shared session keys ({@link HsmSession#deriveShared}); null when turned off. */
  final SharedKeys shared;
  volatile boolean broken;

  /**
   * Session objects of this generation that exist now or may: created and not known to be gone.
   * Never negative: destroyed is read first, and each destroy follows its create.
   */
  long objectsLive() {
    long destroyed = objectsDestroyed.get();
    return objectsCreated.get() - destroyed;
  }

  Generation(long number, Token token, Session admin, int poolSize, SharedKeys shared) {
    this.number = number;
    this.token = token;
    this.admin = admin;
    this.idle = new ArrayBlockingQueue<>(poolSize);
    this.shared = shared;
  }
}
