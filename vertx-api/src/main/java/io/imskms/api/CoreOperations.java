package io.imskms.api;

import io.imskms.api.config.ApiConfig;
import io.imskms.core.DeferredDeliveryOptions;
import io.imskms.core.DeferredDeliveryService;
import io.imskms.core.KmsException;
import io.imskms.core.LongTermKeys;
import io.imskms.core.ServerRandom;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.directory.MailboxDirectoryException;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.principals.PrincipalRecord;
import io.imskms.core.principals.PrincipalRegistry;
import io.imskms.core.replay.ReplayCache;
import io.imskms.core.replay.ReplayGuard;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.BootstrapResponse;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.MailboxKeyResponse;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.RetrievalResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@link KmsOperations} over kms-core's {@link DeferredDeliveryService} (binary messages). */
final class CoreOperations implements KmsOperations {
  private static final Logger LOG = LoggerFactory.getLogger(CoreOperations.class);

  private final DeferredDeliveryService service;
  private final MailboxDirectory directory;
  private final KeyRing ring;
  private final PrincipalRegistry principals;

  CoreOperations(DeferredDeliveryService service, MailboxDirectory directory) {
    this(service, directory, null, null);
  }

  CoreOperations(DeferredDeliveryService service, MailboxDirectory directory, KeyRing ring,
      PrincipalRegistry principals) {
    this.service = Objects.requireNonNull(service);
    this.directory = directory;
    this.ring = ring;
    this.principals = principals;
  }

  /**
   * Assembles kms-core from the {@code core} configuration: the long-term keys found in (or, with
   * {@code provisionKeys}, generated in) the token, the mailbox directory, the replay cache and
   * the lifetimes.
   */
  static CoreOperations open(ApiConfig.Core core, Hsm hsm) throws Exception {
    return open(core, hsm, Clock.systemUTC());
  }

  /**
   * As {@link #open(ApiConfig.Core, Hsm)}, with the clock of the replay window and of B-TID and
   * ticket lifetimes (tests move it to reach expiry).
   */
  static CoreOperations open(ApiConfig.Core core, Hsm hsm, Clock clock) throws Exception {
    return open(core, hsm, clock, new ReplayCache(Duration.ofSeconds(core.replayWindowSeconds()),
        core.replayMaxEntries(), clock));
  }

  /**
   * As {@link #open(ApiConfig.Core, Hsm, Clock)}, with the node's replay defence ({@code
   * replay.store}: this process's cache or the Redis store shared by every node).
   */
  static CoreOperations open(ApiConfig.Core core, Hsm hsm, Clock clock, ReplayGuard replay)
      throws Exception {
    KeyRing ring = core.provisionKeys() ? KeyRing.ensureProvisioned(hsm) : KeyRing.load(hsm);
    if (core.provisionKeys() && !core.keyManifest().isBlank()) {
      ring.writeManifest(Path.of(core.keyManifest()));
    }
    LongTermKeys keys = LongTermKeys.of(ring);
    MailboxDirectory directory = MailboxDirectory.load(Path.of(core.directoryFile()));
    DeferredDeliveryOptions options = new DeferredDeliveryOptions(
        Duration.ofSeconds(core.btidLifetimeSeconds()),
        Duration.ofSeconds(core.ticketRetentionSeconds()));
    // Revoked and re-enrolled principals (docs/architecture.md, "Devices"): a record that does
    // not verify, or was removed, stops the start (fail closed).
    PrincipalRegistry principals = PrincipalRegistry.load(hsm);
    KmsBootstrapper bootstrapper = new KmsBootstrapper(keys, replay, directory, clock,
        options.btidLifetime(), ServerRandom.HSM, principals);
    return new CoreOperations(new DeferredDeliveryService(hsm, keys, bootstrapper, directory,
        replay, clock, options), directory, ring, principals);
  }

  /** What a directory check did: nothing, a reload, or a refused file (old contents stay). */
  record DirectoryReload(boolean reloaded, String error) {
    static final DirectoryReload UNCHANGED = new DirectoryReload(false, null);
  }

  /** What a key poll did: the versions that appeared or changed state, or why it failed. */
  record KeyRefresh(List<String> changes, String error) {
    static final KeyRefresh UNCHANGED = new KeyRefresh(List.of(), null);
  }

  /**
   * Re-reads the long-term keys and their lifecycle record from the token (docs/architecture.md,
   * "Key lifecycle"); on a failure (record not verifying, token unreachable) the previous state
   * stays in force. Called every {@code core.keyPollSeconds}, never per request.
   */
  KeyRefresh refreshKeys() {
    if (ring == null) {
      return KeyRefresh.UNCHANGED;
    }
    try {
      return new KeyRefresh(ring.refresh(), null);
    } catch (HsmException e) {
      LOG.error("long-term keys not re-read, previous state stays: {}", e.getMessage());
      return new KeyRefresh(List.of(), e.getMessage());
    }
  }

  /** What a principal poll did: the principals whose standing changed, or why it failed. */
  record PrincipalRefresh(List<PrincipalRecord.Entry> changes, String error) {
    static final PrincipalRefresh UNCHANGED = new PrincipalRefresh(List.of(), null);
  }

  /**
   * Re-reads the revoked and re-enrolled principals from the token (docs/architecture.md,
   * "Devices"); on a failure (record not verifying, removed, older, token unreachable) the
   * previous state stays in force. Called every {@code core.keyPollSeconds}, never per request.
   */
  PrincipalRefresh refreshPrincipals() {
    if (principals == null) {
      return PrincipalRefresh.UNCHANGED;
    }
    try {
      return new PrincipalRefresh(principals.refresh(), null);
    } catch (HsmException e) {
      LOG.error("principal record not re-read, previous state stays: {}", e.getMessage());
      return new PrincipalRefresh(List.of(), e.getMessage());
    }
  }

  /** How many principals are revoked and how many re-enrolled, as this node last read them. */
  String principalSummary() {
    if (principals == null) {
      return "";
    }
    PrincipalRecord r = principals.record();
    long revoked = r.entries().values().stream().filter(PrincipalRecord.Entry::revoked).count();
    long reenrolled = r.entries().values().stream().filter(e -> e.generation() > 0).count();
    return revoked + " revoked, " + reenrolled + " re-enrolled (record sequence " + r.sequence()
        + ")";
  }

  /** Every long-term key version and its state, e.g. {@code kms-cred-root#v1 active}; empty if none. */
  List<String> keyStates() {
    if (ring == null) {
      return List.of();
    }
    return ring.describe().stream()
        .map(k -> k.purpose().id(k.version()) + " " + k.state().cliName()).toList();
  }

  /** Re-reads the mailbox directory if its file changed; a bad file keeps the old contents. */
  DirectoryReload reloadDirectory() {
    if (directory == null) {
      return DirectoryReload.UNCHANGED;
    }
    try {
      if (directory.reloadIfChanged()) {
        LOG.info("mailbox directory reloaded");
        return new DirectoryReload(true, null);
      }
      return DirectoryReload.UNCHANGED;
    } catch (MailboxDirectoryException e) {
      LOG.error("mailbox directory not reloaded, previous contents stay: {}", e.getMessage());
      return new DirectoryReload(false, e.getMessage());
    }
  }

  @Override
  public BootstrapResponse bootstrap(BootstrapRequest request) throws KmsException {
    return call(service::bootstrap, request.encode(), BootstrapResponse::decode);
  }

  @Override
  public MailboxKeyResponse mailboxKeyRequest(MailboxKeyRequest request) throws KmsException {
    return call(service::mailboxKeyRequest, request.encode(), MailboxKeyResponse::decode);
  }

  @Override
  public RetrievalResponse retrieve(RetrievalRequest request) throws KmsException {
    return call(service::retrieveMediaKey, request.encode(), RetrievalResponse::decode);
  }

  @FunctionalInterface
  private interface Service {
    byte[] serve(byte[] request) throws KmsException;
  }

  @FunctionalInterface
  private interface Decoder<T> {
    T decode(byte[] answer) throws ProtocolException;
  }

  /** Serves the encoded request and decodes the service's answer. */
  private static <T> T call(Service service, byte[] request, Decoder<T> decoder)
      throws KmsException {
    byte[] answer = service.serve(request);
    try {
      return decoder.decode(answer);
    } catch (ProtocolException e) {
      throw internal(e);
    }
  }

  /** The service's own answer did not parse: a KMS bug, never the client's doing. */
  private static KmsException internal(ProtocolException e) {
    return new KmsException(ErrorCode.INTERNAL, "service answer does not parse", e);
  }
}
