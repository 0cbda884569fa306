package io.imskms.core.pseudonyms;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmMisconfigurationException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.hsm.HsmSession;
import io.imskms.hsm.KeyAlgorithm;
import io.imskms.hsm.KeyNotFoundException;
import io.imskms.hsm.KeyRef;
import io.imskms.hsm.KeySpec;
import io.imskms.hsm.KeyUsage;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Pseudonyms of identities (docs/audit-format.md "Identities"): {@code p1:} + lower-case hex of
 * HMAC-SHA-256 under a dedicated token key {@code label#v1} over {@value #CONTEXT_TEXT} ‖ 0x00 ‖
 * the identity's UTF-8 bytes, computed in the HSM.
 *
 * <p>Security guarantees: the key is generated in the token (sensitive, never extractable, sign
 * only) and used for nothing else, so a pseudonym can be computed only through the HSM by a PIN
 * holder; nothing public (the audit verifier key, the log) gives a way to compute or reverse one.
 * The same identity always gives the same pseudonym under the same key. Not against a PIN holder
 * who enumerates candidate identities through the HSM. Pseudonyms are cached in process memory
 * (bounded LRU) so that a repeat identity costs no HSM operation.
 */
public final class Pseudonymiser {
  /** The prefix of a pseudonym (format version 1). */
  public static final String PREFIX = "p1:";
  /** The token key's version (its CKA_LABEL is {@code label#v1}). */
  public static final int KEY_VERSION = 1;
  static final String CONTEXT_TEXT = "imskms-audit-pseudonym-v1";
  private static final byte[] CONTEXT = CONTEXT_TEXT.getBytes(StandardCharsets.US_ASCII);
  /** Sign only: the key computes pseudonyms and nothing else. */
  static final KeySpec SPEC = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN);

  private final Hsm hsm;
  private final String label;
  private final Map<String, String> cache;
  private long hsmOperations;

  private Pseudonymiser(Hsm hsm, String label, int cacheEntries) {
    this.hsm = hsm;
    this.label = label;
    this.cache = new LinkedHashMap<>(1024, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
        return size() > cacheEntries;
      }
    };
  }

  /** Whether the key {@code label#v1} is in the token. */
  public static boolean present(Hsm hsm, String label) throws HsmException {
    try {
      hsm.findKey(label, KEY_VERSION);
      return true;
    } catch (KeyNotFoundException e) {
      return false;
    }
  }

  /**
   * Generates the key {@code label#v1} in the token unless it is there (HMAC-SHA-256,
   * sensitive, never extractable, sign only).
   *
   * @return true if it was generated now
   */
  public static boolean ensure(Hsm hsm, String label) throws HsmException {
    if (present(hsm, label)) {
      return false;
    }
    try {
      hsm.generateLongTermKey(label, KEY_VERSION, SPEC);
      return true;
    } catch (HsmPolicyException raced) {
      return false; // made by another process meanwhile
    }
  }

  /**
   * The pseudonymiser of the key {@code label#v1}, remembering at most {@code cacheEntries}
   * identities.
   *
   * @throws KeyNotFoundException the key is not in the token
   * @throws HsmMisconfigurationException the key is not an HMAC-SHA-256 signing key
   */
  public static Pseudonymiser open(Hsm hsm, String label, int cacheEntries) throws HsmException {
    KeyRef key = Objects.requireNonNull(hsm).findKey(label, KEY_VERSION);
    if (key.spec().algorithm() != KeyAlgorithm.HMAC_SHA256 || !key.spec().allows(KeyUsage.SIGN)) {
      throw new HsmMisconfigurationException("pseudonym key " + label + "#v" + KEY_VERSION
          + " is " + key.spec() + ", not an HMAC-SHA-256 signing key");
    }
    return new Pseudonymiser(hsm, label, cacheEntries);
  }

  /** The bytes the HMAC is computed over: context ‖ 0x00 ‖ UTF-8(identity). */
  static byte[] input(String identity) {
    byte[] id = identity.getBytes(StandardCharsets.UTF_8);
    byte[] in = new byte[CONTEXT.length + 1 + id.length];
    System.arraycopy(CONTEXT, 0, in, 0, CONTEXT.length);
    System.arraycopy(id, 0, in, CONTEXT.length + 1, id.length);
    return in;
  }

  /**
   * The pseudonym of {@code identity} (null stays null); one HSM operation unless cached. Blocks
   * on the HSM.
   */
  public String pseudonym(String identity) throws HsmException {
    if (identity == null) {
      return null;
    }
    String p = cached(identity);
    if (p != null) {
      return p;
    }
    byte[] tag;
    try (HsmSession s = hsm.openSession()) {
      tag = s.sign(hsm.findKey(label, KEY_VERSION), input(identity));
    }
    p = PREFIX + HexFormat.of().formatHex(tag);
    synchronized (cache) {
      cache.put(identity, p);
      hsmOperations++;
    }
    return p;
  }

  /** The pseudonym if it is cached (no HSM operation), else null. */
  public String cached(String identity) {
    synchronized (cache) {
      return cache.get(identity);
    }
  }

  /** Whether {@code identity} is null or cached. */
  public boolean isCached(String identity) {
    synchronized (cache) {
      return identity == null || cache.containsKey(identity);
    }
  }

  /** HMACs computed in the HSM so far (cache misses). */
  public long hsmOperations() {
    synchronized (cache) {
      return hsmOperations;
    }
  }

  @Override
  public String toString() {
    return "Pseudonymiser[key " + label + "#v" + KEY_VERSION + "]";
  }
}
