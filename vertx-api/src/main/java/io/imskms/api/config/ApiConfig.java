package io.imskms.api.config;

import java.util.List;
import java.util.Objects;

/**
 * The server's configuration as read from YAML plus {@code KMS_*} environment overrides
 * ({@link ConfigLoader}). Holds no secret: the HSM PIN is read separately from a file or the
 * environment ({@link PinSource}), so this object may be logged.
 *
 * @param http listener, body limit and timeouts
 * @param tls server certificate, accepted protocols, client CA, optional PKCS#11 key store
 * @param hsm how to reach the token
 * @param worker the HSM worker executor and its admission limit
 * @param core the protocol service: mailbox directory, replay window, lifetimes, keys
 * @param dev development conveniences (self-signed TLS material)
 * @param audit the audit log (docs/audit-format.md)
 * @param replay where the replay defence keeps its records (this process, or Redis)
 * @param redis how to reach Redis when {@code replay.store} is {@code redis}
 */
public record ApiConfig(Http http, Tls tls, Hsm hsm, Worker worker, Core core, Dev dev,
    Audit audit, Replay replay, Redis redis) {

  public ApiConfig {
    Objects.requireNonNull(core, "core");
    Objects.requireNonNull(http, "http");
    Objects.requireNonNull(tls, "tls");
    Objects.requireNonNull(hsm, "hsm");
    Objects.requireNonNull(worker, "worker");
    Objects.requireNonNull(dev, "dev");
    Objects.requireNonNull(audit, "audit");
    Objects.requireNonNull(replay, "replay");
    Objects.requireNonNull(redis, "redis");
  }

  /** This configuration with other TLS settings (dev mode fills them in). */
  public ApiConfig withTls(Tls other) {
    return new ApiConfig(http, other, hsm, worker, core, dev, audit, replay, redis);
  }

  /** The number of worker threads: {@code worker.poolSize}, or the HSM pool size when 0. */
  public int workerPoolSize() {
    return worker.poolSize() > 0 ? worker.poolSize() : hsm.poolSize();
  }

  /**
   * @param host address to bind
   * @param port TCP port (0 picks a free one)
   * @param bodyLimitBytes larger request bodies are answered 413
   * @param readTimeoutMs a request whose body is not complete after this long is answered 408
   * @param idleTimeoutSeconds a connection idle this long is closed
   */
  public record Http(String host, int port, int bodyLimitBytes, long readTimeoutMs,
      int idleTimeoutSeconds) {}

  /**
   * @param protocols enabled TLS versions; TLSv1.3 only unless TLSv1.2 is added explicitly
   * @param certFile PEM server certificate chain
   * @param keyFile PEM (PKCS#8) server private key, used when the key store type is {@code pem}
   * @param clientCaFile PEM CA certificate(s) that issue mailbox client certificates
   * @param keyStore where the server key lives
   */
  public record Tls(List<String> protocols, String certFile, String keyFile, String clientCaFile,
      KeyStore keyStore) {
    public Tls {
      protocols = List.copyOf(protocols);
    }
  }

  /**
   * @param type {@code pem} (key in {@code tls.keyFile}) or {@code pkcs11} (key in the token,
   *     through SunPKCS11)
   * @param pkcs11Config the SunPKCS11 configuration file (library, slot or token label)
   * @param alias the key entry's alias in the PKCS#11 key store (its CKA_LABEL); empty for the
   *     only entry
   */
  public record KeyStore(String type, String pkcs11Config, String alias) {
    public boolean isPkcs11() {
      return "pkcs11".equalsIgnoreCase(type);
    }
  }

  /**
   * @param module the PKCS#11 library
   * @param tokenLabel the token, found by label
   * @param pinFile the file holding the user PIN (used when KMS_HSM_PIN is not set)
   * @param poolSize PKCS#11 sessions in the adapter's pool
   * @param borrowTimeoutMs how long a request waits for a session
   * @param recycleAfterObjects re-initialise the module after this many session objects
   *     (default 200 000: SoftHSM2 leaks ~290 B of native memory per session object until
   *     C_Finalize, and a request makes 8–13); 0 disables, which is required with a PKCS#11 TLS
   *     key store on the same module
   * @param recoveryIntervalMs minimum time between two recovery attempts
   * @param deriveTemplateSupported whether the token honours CKA_DERIVE_TEMPLATE
   * @param sharedKeys recovered session keys (Ks by B-TID) kept as HSM session objects for reuse
   *     (default 4096; 0 = off; docs/protocol.md section 12)
   */
  public record Hsm(String module, String tokenLabel, String pinFile, int poolSize,
      long borrowTimeoutMs, long recycleAfterObjects, long recoveryIntervalMs,
      boolean deriveTemplateSupported, int sharedKeys) {}

  /**
   * @param poolSize worker threads for HSM work; 0 means the HSM pool size
   * @param queueLimit requests admitted beyond the pool size; more are answered 503 at once
   * @param maxExecuteTimeMs Vert.x blocked-thread warning threshold for one HSM task
   * @param retryAfterSeconds the Retry-After value of 503 answers
   */
  public record Worker(int poolSize, int queueLimit, long maxExecuteTimeMs,
      int retryAfterSeconds) {}

  /**
   * @param directoryFile the mailbox directory (JSON, docs/configuration.md); reloaded when it
   *     changes
   * @param directoryReloadSeconds how often the directory file is checked for changes
   * @param replayWindowSeconds accepted clock difference of request timestamps, and how long a
   *     nonce is remembered
   * @param replayMaxEntries replay cache capacity (about 128 bytes of heap each); full means 503
   * @param btidLifetimeSeconds how long a B-TID is accepted after bootstrapping
   * @param ticketRetentionSeconds how long a ticket is accepted (the mailbox's retention period)
   * @param provisionKeys generate missing long-term keys (version 1) in the token at start-up
   * @param keyManifest the key manifest file; when it exists its key check values are checked at
   *     every login, and it is written after provisioning; empty for none
   * @param keyPollSeconds how often a server re-reads the token's long-term keys and their
   *     lifecycle record (docs/architecture.md, "Key lifecycle")
   * @param keyStagingSeconds how long after {@code kms keys rotate} (or {@code kms keys state ...
   *     active} of a new version) the new version becomes active; must exceed two poll
   *     intervals plus the nodes' clock skew
   * @param keyBackup generate long-term keys backup-capable (extractable only under a trusted
   *     key, CKA_WRAP_WITH_TRUSTED) so that {@code kms keys export} can back them up; false:
   *     never extractable (docs/architecture.md, "Backup and restore under dual control")
   * @param rotationDays the maximum age of each purpose's active version before {@code kms keys
   *     rotate --due} rotates it (docs/configuration.md, "Automatic rotation by age")
   */
  public record Core(String directoryFile, int directoryReloadSeconds, long replayWindowSeconds,
      int replayMaxEntries, long btidLifetimeSeconds, long ticketRetentionSeconds,
      boolean provisionKeys, String keyManifest, int keyPollSeconds, int keyStagingSeconds,
      boolean keyBackup, RotationDays rotationDays) {
    public Core {
      Objects.requireNonNull(rotationDays, "core.rotationDays");
      if (keyPollSeconds < 1) {
        throw new IllegalArgumentException("core.keyPollSeconds must be at least 1");
      }
      if (keyStagingSeconds <= 2 * keyPollSeconds) {
        throw new IllegalArgumentException("core.keyStagingSeconds must exceed two poll"
            + " intervals (2 x core.keyPollSeconds)");
      }
    }
  }

  /**
   * The maximum age, in days, of the active version of each long-term key purpose: when it is
   * reached, {@code kms keys rotate --due} stages a rotation. 0 = never rotated by age.
   */
  public record RotationDays(int credRoot, int btidMac, int ticketRoot, int mediaRoot) {
    public RotationDays {
      if (credRoot < 0 || btidMac < 0 || ticketRoot < 0 || mediaRoot < 0) {
        throw new IllegalArgumentException("core.rotationDays.* must be 0 (never) or a number"
            + " of days");
      }
    }

    /** The maximum age of {@code purpose}'s active version, if one is configured. */
    public java.util.Optional<java.time.Duration> maxAge(
        io.imskms.core.keys.KeyPurpose purpose) {
      int days = switch (purpose) {
        case CRED_ROOT -> credRoot;
        case BTID_MAC -> btidMac;
        case TICKET_ROOT -> ticketRoot;
        case MEDIA_ROOT -> mediaRoot;
      };
      return days == 0 ? java.util.Optional.empty()
          : java.util.Optional.of(java.time.Duration.ofDays(days));
    }
  }

  /**
   * @param enabled create and reuse self-signed TLS material under {@code tlsDir}
   * @param tlsDir where the dev CA, server and client certificates live
   * @param mailboxes one client certificate is issued per mailbox identity
   */
  public record Dev(boolean enabled, String tlsDir, List<String> mailboxes) {
    public Dev {
      mailboxes = List.copyOf(mailboxes);
    }
  }

  /**
   * The node's audit log (docs/audit-format.md). The server refuses to start without a writable
   * {@code dir} and the signing key {@code keyLabel} in the token.
   *
   * @param dir the log directory (segments, checkpoints); one per node
   * @param origin the checkpoint origin and signing key name, e.g. {@code
   *     imskms.example/audit/node-1}; one per node
   * @param node the node name written into every record
   * @param keyLabel the CKA_LABEL of the Ed25519 checkpoint key pair in the token
   * @param batchDelayMs how long the writer waits for more records after the first of a batch
   * @param batchMaxRecords at most this many records share one fsync
   * @param queueLimit records waiting for the writer; one more is answered AUDIT_UNAVAILABLE
   * @param segmentMaxBytes a segment is rotated when it reaches this size
   * @param segmentMaxAgeHours a segment is rotated when its first record is this old
   * @param retentionDays closed segments older than this are deleted; 0 keeps everything
   * @param checkpointIntervalMs a checkpoint is signed this often while records arrive
   * @param identities {@value #PLAIN} (identities in records as they are) or {@value
   *     #PSEUDONYMISED} ({@code p1:} + HMAC under the token key {@code pseudonymKeyLabel#v1};
   *     docs/audit-format.md, "Identities")
   * @param pseudonymKeyLabel the label (without {@code #v1}) of the HMAC key of pseudonyms
   */
  public record Audit(String dir, String origin, String node, String keyLabel, long batchDelayMs,
      int batchMaxRecords, int queueLimit, long segmentMaxBytes, long segmentMaxAgeHours,
      long retentionDays, long checkpointIntervalMs, String identities,
      String pseudonymKeyLabel) {
    public static final String PLAIN = "plain";
    public static final String PSEUDONYMISED = "pseudonymised";

    public Audit {
      if (!PLAIN.equals(identities) && !PSEUDONYMISED.equals(identities)) {
        throw new IllegalArgumentException("audit.identities must be plain or pseudonymised");
      }
      if (pseudonymKeyLabel == null || pseudonymKeyLabel.isBlank()) {
        throw new IllegalArgumentException("audit.pseudonymKeyLabel must name the HMAC key");
      }
    }
  }

  /**
   * Where accepted (principal, nonce) pairs are recorded (docs/scaling.md).
   *
   * @param store {@code memory}: in this process (one node; {@code core.replayMaxEntries}), or
   *     {@code redis}: in the Redis of the {@code redis} section, shared by every node
   */
  public record Replay(String store) {
    public Replay {
      if (!"memory".equals(store) && !"redis".equals(store)) {
        throw new IllegalArgumentException("replay.store must be memory or redis");
      }
    }

    public boolean redis() {
      return "redis".equals(store);
    }
  }

  /**
   * The shared replay store (docs/configuration.md, "Replay store on Redis"); read only when
   * {@code replay.store} is {@code redis}.
   *
   * @param type {@code standalone}, {@code sentinel} or {@code cluster}
   * @param endpoints {@code redis://host:port}: the server, the sentinels, or cluster seed nodes
   * @param masterName the Sentinel master name (sentinel only)
   * @param timeoutMillis the longest a request waits for Redis; then it is refused (503)
   * @param waitReplicas replicas that must acknowledge each record (Redis WAIT); 0: no WAIT
   * @param waitTimeoutMillis how long WAIT waits for them
   * @param passwordFile a 0600 file holding the Redis password (AUTH); empty for none
   * @param keyPrefix the prefix of every key the KMS writes
   * @param probeIntervalMillis how often a node probes Redis for its readiness
   */
  public record Redis(String type, List<String> endpoints, String masterName,
      long timeoutMillis, int waitReplicas, long waitTimeoutMillis, String passwordFile,
      String keyPrefix, long probeIntervalMillis) {
    public Redis {
      endpoints = List.copyOf(endpoints);
    }
  }
}
