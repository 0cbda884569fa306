package io.imskms.api.audit;

import io.imskms.api.config.ApiConfig;
import io.imskms.audit.AuditEvent;
import io.imskms.core.pseudonyms.Pseudonymiser;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;

/**
 * Pseudonymised identities in audit records ({@code audit.identities: pseudonymised},
 * docs/audit-format.md "Identities"): the configuration and the record side of kms-core's
 * {@link Pseudonymiser}, which computes them in the HSM under {@code audit.pseudonymKeyLabel#v1}.
 *
 * <p>Security guarantees: the key is generated in the token (sensitive, never extractable, sign
 * only) and used for nothing else, so a pseudonym can be computed only through the HSM by a PIN
 * holder ({@code kms audit pseudonym ID}); the checkpoint verifier key gives no way to compute or
 * reverse one. The same identity always gives the same pseudonym under the same key, so an
 * issuance and its retrieval stay linkable. Not against a PIN holder who enumerates candidate
 * identities through the HSM (about 35 000 HMACs/s on SoftHSM2). Identities are cached in
 * process memory (bounded LRU) so that a repeat identity costs no HSM operation.
 */
public final class AuditPseudonyms {
  /** The prefix of a pseudonym (format version 1). */
  public static final String PREFIX = Pseudonymiser.PREFIX;
  /** The token key's version (its CKA_LABEL is {@code label#v1}). */
  public static final int KEY_VERSION = Pseudonymiser.KEY_VERSION;
  /** Identities remembered (about 300 bytes of heap each). */
  public static final int DEFAULT_CACHE_ENTRIES = 100_000;

  private final Pseudonymiser pseudonymiser;

  private AuditPseudonyms(Pseudonymiser pseudonymiser) {
    this.pseudonymiser = pseudonymiser;
  }

  /** Whether {@code audit.identities} asks for pseudonyms. */
  public static boolean enabled(ApiConfig.Audit audit) {
    return ApiConfig.Audit.PSEUDONYMISED.equals(audit.identities());
  }

  /** Whether the pseudonym key {@code audit.pseudonymKeyLabel#v1} is in the token. */
  public static boolean present(Hsm hsm, ApiConfig.Audit audit) throws HsmException {
    return Pseudonymiser.present(hsm, audit.pseudonymKeyLabel());
  }

  /**
   * Generates the pseudonym key in the token unless it is there (HMAC-SHA-256, sensitive, never
   * extractable, sign only).
   *
   * @return true if it was generated now
   */
  public static boolean ensure(Hsm hsm, ApiConfig.Audit audit) throws HsmException {
    return Pseudonymiser.ensure(hsm, audit.pseudonymKeyLabel());
  }

  /**
   * The pseudonymiser of the configured key.
   *
   * @throws io.imskms.hsm.KeyNotFoundException the key is not in the token ({@code kms token
   *     init} makes it)
   * @throws io.imskms.hsm.HsmMisconfigurationException the key is not an HMAC-SHA-256 signing key
   */
  public static AuditPseudonyms open(Hsm hsm, ApiConfig.Audit audit) throws HsmException {
    return new AuditPseudonyms(
        Pseudonymiser.open(hsm, audit.pseudonymKeyLabel(), DEFAULT_CACHE_ENTRIES));
  }

  /**
   * The pseudonym of {@code identity} (null stays null); one HSM operation unless cached. Blocks
   * on the HSM: never call on an event loop unless {@link #cached} said yes.
   */
  public String pseudonym(String identity) throws HsmException {
    return pseudonymiser.pseudonym(identity);
  }

  /** The pseudonym if it is cached (no HSM operation), else null. */
  public String cached(String identity) {
    return pseudonymiser.cached(identity);
  }

  /** Whether every identity of {@code e} is cached ({@link #apply} will not touch the HSM). */
  public boolean allCached(AuditEvent e, boolean caller) {
    return pseudonymiser.isCached(e.idA()) && pseudonymiser.isCached(e.idB())
        && pseudonymiser.isCached(e.idBm()) && (!caller || pseudonymiser.isCached(e.caller()));
  }

  /**
   * {@code e} with {@code idA}, {@code idB}, {@code idBm} (and {@code caller} if asked: the
   * server's callers are subscribers and mailboxes; the CLI's are operators, who stay
   * accountable by name) replaced by their pseudonyms.
   */
  public AuditEvent apply(AuditEvent e, boolean caller) throws HsmException {
    return new AuditEvent(e.time(), e.event(), e.outcome(), e.code(), e.requestId(),
        caller ? pseudonym(e.caller()) : e.caller(), pseudonym(e.idA()), pseudonym(e.idB()),
        pseudonym(e.idBm()), e.keyVersions(), e.ticket(), e.clientCert(), e.detail());
  }

  /** HMACs computed in the HSM so far (cache misses). */
  public long hsmOperations() {
    return pseudonymiser.hsmOperations();
  }

  @Override
  public String toString() {
    return "AuditPseudonyms[" + pseudonymiser + "]";
  }
}
