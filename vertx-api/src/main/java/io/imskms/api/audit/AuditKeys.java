package io.imskms.api.audit;

import io.imskms.api.config.ApiConfig;
import io.imskms.audit.AuditLogOptions;
import io.imskms.audit.VerifierKey;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The audit checkpoint key in the token and the log's options, as the server, {@code kms token
 * init}, {@code kms audit key} and {@code kms config check} all need them.
 */
public final class AuditKeys {
  private AuditKeys() {}

  /** Whether the Ed25519 key pair {@code audit.keyLabel} is in the token. */
  public static boolean present(Hsm hsm, ApiConfig.Audit audit) throws HsmException {
    try {
      hsm.ed25519PublicKey(audit.keyLabel());
      return true;
    } catch (HsmException e) {
      if (e.kind() == HsmException.Kind.KEY_NOT_FOUND) {
        return false;
      }
      throw e;
    }
  }

  /**
   * Generates the key pair in the token unless it is there (CKM_EC_EDWARDS_KEY_PAIR_GEN; private
   * half sensitive, never extractable, CKM_EDDSA only).
   *
   * @return true if it was generated now
   */
  public static boolean ensure(Hsm hsm, ApiConfig.Audit audit) throws HsmException {
    if (present(hsm, audit)) {
      return false;
    }
    hsm.generateEd25519Key(audit.keyLabel());
    return true;
  }

  /** The C2SP verifier key of the node's checkpoints: {@code origin+hash+base64}. */
  public static VerifierKey verifierKey(Hsm hsm, ApiConfig.Audit audit) throws HsmException {
    return VerifierKey.of(audit.origin(), hsm.ed25519PublicKey(audit.keyLabel()));
  }

  /** The writer's options from {@code audit.*}. */
  public static AuditLogOptions options(ApiConfig.Audit a) {
    return new AuditLogOptions(Path.of(a.dir()), a.origin(), a.node(), a.batchMaxRecords(),
        Duration.ofMillis(a.batchDelayMs()), a.queueLimit(), a.segmentMaxBytes(),
        Duration.ofHours(a.segmentMaxAgeHours()), Duration.ofDays(a.retentionDays()),
        Duration.ofMillis(a.checkpointIntervalMs()));
  }
}
