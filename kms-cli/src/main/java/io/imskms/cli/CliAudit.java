package io.imskms.cli;

import io.imskms.api.audit.AuditKeys;
import io.imskms.api.audit.AuditPseudonyms;
import io.imskms.api.audit.HsmCheckpointSigner;
import io.imskms.api.config.ApiConfig;
import io.imskms.audit.AuditEvent;
import io.imskms.audit.AuditLog;
import io.imskms.audit.AuditLogOptions;
import io.imskms.audit.AuditRecord;
import io.imskms.audit.AuditStartException;
import io.imskms.audit.Checkpoint;
import io.imskms.audit.VerifierKey;
import io.imskms.core.KmsException;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The audit records of the CLI's own steps ({@code kms token init}, {@code kms keys rotate|state},
 * {@code kms enroll}, {@code kms tls keygen|import-cert}, device revocation, key export/import...):
 * docs/audit-format.md, "Records of the CLI's steps".
 *
 * <p>Each host on which the CLI runs keeps its own log, separate from the server's: directory
 * {@code <audit.dir>/cli-<host>/}, origin and checkpoint key name {@code <audit.origin>/cli-<host>},
 * node {@code cli-<host>}, checkpoints signed by the same Ed25519 key in the token
 * ({@code audit.keyLabel}). Its verifier key is printed by {@code kms audit key --cli}; {@code kms
 * audit verify --key NODE_VKEY --key CLI_VKEY <audit.dir> <audit.dir>/cli-<host>} checks both
 * logs together. Concurrent CLI runs on one host serialise on an exclusive file lock
 * ({@code .lock} in that directory; at most {@link #LOCK_WAIT} of waiting).
 *
 * <p>Usage, the simple way (one step, one record):
 *
 * <pre>{@code
 * try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
 *   return CliAudit.step(cfg, hsm, ctx, "device.revoked", rec -> {
 *     // check the arguments, then change things; fill what the record says:
 *     rec.idA(identity).detail("revoked: lost device");   // identities in clear: pseudonymised here
 *     ...
 *     return ExitCodes.OK;
 *   });
 * }
 * }</pre>
 *
 * {@link #step} first opens the log (refusing with exit 1, before anything is changed, when the
 * directory is not writable or the checkpoint key is missing), runs the step, then appends one
 * record ({@code ok}; or {@code refused}/{@code fault} with the exception's class as code when the
 * step threw, after which the exception is rethrown), waits until it is fsynced, and closes the log,
 * which signs a checkpoint over it. If the record or checkpoint cannot be written after the step
 * changed something, the command fails (exit 1) saying so. For several records, or to record
 * something else than what the step returned, use {@link #open}, {@link #event}, {@link #record}
 * and {@link #close} directly.
 *
 * <p>Every record gets {@code requestId} = this run's id ({@code cli-<uuid>}, printed, and usable
 * with {@code kms audit prove --request-id}) and {@code caller} = the operator's OS user
 * ({@code os:<user>}, with the login user and {@code SUDO_USER} when they differ). {@code idA},
 * {@code idB}, {@code idBm} are pseudonymised when {@code audit.identities} is {@code pseudonymised} (the
 * operator's name is not: operators stay accountable by name).
 *
 * <p>Security guarantees: a record holds names, codes, versions, digests; never put a key, PIN,
 * wrapped key, credential or ticket body in {@code detail}. The log is append-only and covered by
 * a checkpoint signed in the HSM before {@link #close} returns normally.
 */
public final class CliAudit implements AutoCloseable {
  /** How long a CLI run waits for another one on the same host to finish its record. */
  public static final Duration LOCK_WAIT = Duration.ofSeconds(60);
  private static final Duration APPEND_WAIT = Duration.ofSeconds(30);
  /** In-process holders of a lock file (FileLock is per process, not per thread). */
  private static final Map<Path, ReentrantLock> LOCAL = new ConcurrentHashMap<>();

  private final ApiConfig cfg;
  private final CliContext ctx;
  private final AuditLog log;
  private final AuditPseudonyms pseudonyms;
  private final FileChannel lockChannel;
  private final FileLock fileLock;
  private final ReentrantLock localLock;
  private final String runId = "cli-" + UUID.randomUUID();
  private long records;
  private boolean closed;

  private CliAudit(ApiConfig cfg, CliContext ctx, AuditLog log, AuditPseudonyms pseudonyms,
      FileChannel lockChannel, FileLock fileLock, ReentrantLock localLock) {
    this.cfg = cfg;
    this.ctx = ctx;
    this.log = log;
    this.pseudonyms = pseudonyms;
    this.lockChannel = lockChannel;
    this.fileLock = fileLock;
    this.localLock = localLock;
  }

  /** What a step does; it fills the record through {@code record}. */
  @FunctionalInterface
  public interface Step<T> {
    T run(AuditEvent.Builder record) throws Exception;
  }

  /**
   * Runs {@code step} with one audit record {@code event} of this host's CLI log: opens the log
   * first (fail closed: nothing is run when it cannot be written), records the outcome, signs a
   * checkpoint. See the class comment.
   *
   * @param cfg the loaded configuration ({@code audit.*})
   * @param hsm the logged-in token (signs the checkpoint; computes pseudonyms)
   * @param event the record's event name, {@code [a-z][a-z0-9_.]*}, e.g. {@code keys.rotate}
   * @return what the step returned
   */
  public static <T> T step(ApiConfig cfg, Hsm hsm, CliContext ctx, String event, Step<T> step)
      throws Exception {
    try (CliAudit audit = open(cfg, hsm, ctx)) {
      AuditEvent.Builder rec = audit.event(event, AuditEvent.Outcome.OK);
      T result;
      try {
        result = step.run(rec);
      } catch (Exception e) {
        audit.recordFailure(rec, event, e);
        throw e;
      }
      audit.record(rec.build());
      return result;
    }
  }

  /**
   * Opens this host's CLI log, waiting for the lock of another CLI run; call it before changing
   * anything.
   *
   * @throws CliException exit 1 when the log cannot be opened (directory not writable, records
   *     altered, lock not obtained), exit 3 when the checkpoint key (or the pseudonym key when
   *     configured) is not in the token
   */
  public static CliAudit open(ApiConfig cfg, Hsm hsm, CliContext ctx) throws CliException {
    ApiConfig.Audit a = cfg.audit();
    Path dir = directory(cfg);
    AuditPseudonyms pseudonyms = null;
    HsmCheckpointSigner signer;
    try {
      if (!AuditKeys.present(hsm, a)) {
        throw new CliException(ExitCodes.HSM_UNAVAILABLE, "the audit checkpoint key '"
            + a.keyLabel() + "' is not in the token (kms token init generates it): refusing to"
            + " act without an audit record");
      }
      signer = new HsmCheckpointSigner(hsm, origin(cfg), a.keyLabel());
      if (AuditPseudonyms.enabled(a)) {
        pseudonyms = AuditPseudonyms.open(hsm, a);
      }
    } catch (HsmException e) {
      throw new CliException(ExitCodes.HSM_UNAVAILABLE, "audit keys not usable (token '"
          + cfg.hsm().tokenLabel() + "'): " + e.getMessage() + "; refusing to act without an"
          + " audit record", e);
    }
    ReentrantLock local = LOCAL.computeIfAbsent(dir.toAbsolutePath().normalize(),
        k -> new ReentrantLock());
    FileChannel ch = null;
    FileLock lock = null;
    boolean ok = false;
    try {
      if (!local.tryLock(LOCK_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new CliException(ExitCodes.FAILURE, "another CLI run holds the audit log " + dir
            + " (waited " + LOCK_WAIT.toSeconds() + " s)");
      }
      Files.createDirectories(dir);
      ch = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE,
          StandardOpenOption.WRITE);
      long deadline = System.nanoTime() + LOCK_WAIT.toNanos();
      while ((lock = tryLock(ch)) == null) {
        if (System.nanoTime() - deadline > 0) {
          throw new CliException(ExitCodes.FAILURE, "another process holds the audit log " + dir
              + " (waited " + LOCK_WAIT.toSeconds() + " s for " + dir.resolve(".lock") + ")");
        }
        Thread.sleep(50);
      }
      AuditLog log = AuditLog.open(options(cfg), signer);
      ok = true;
      return new CliAudit(cfg, ctx, log, pseudonyms, ch, lock, local);
    } catch (IOException | AuditStartException e) {
      throw new CliException(ExitCodes.FAILURE, "the CLI audit log " + dir + " cannot be written"
          + " (" + e.getMessage() + "): refusing to act without an audit record", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CliException(ExitCodes.FAILURE, "interrupted while waiting for the audit log");
    } finally {
      if (!ok) {
        release(ch, lock, local);
      }
    }
  }

  private static FileLock tryLock(FileChannel ch) throws IOException {
    try {
      return ch.tryLock();
    } catch (OverlappingFileLockException e) {
      return null;
    }
  }

  private static void release(FileChannel ch, FileLock lock, ReentrantLock local) {
    try {
      if (lock != null) {
        lock.release();
      }
      if (ch != null) {
        ch.close();
      }
    } catch (IOException ignored) {
      // closing the channel releases the lock anyway; the process is about to exit
    }
    if (local.isHeldByCurrentThread()) {
      local.unlock();
    }
  }

  /** This host's name as it appears in the CLI log's directory, origin and node. */
  public static String host() {
    String h;
    try {
      h = InetAddress.getLocalHost().getHostName();
    } catch (IOException | RuntimeException e) {
      h = "localhost";
    }
    int dot = h.indexOf('.');
    if (dot > 0) {
      h = h.substring(0, dot);
    }
    h = h.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]", "-");
    return h.isEmpty() ? "localhost" : h;
  }

  /** {@code <audit.dir>/cli-<host>}. */
  public static Path directory(ApiConfig cfg) {
    return Path.of(cfg.audit().dir()).resolve("cli-" + host());
  }

  /** {@code <audit.origin>/cli-<host>}: the CLI log's origin and checkpoint key name. */
  public static String origin(ApiConfig cfg) {
    return cfg.audit().origin() + "/cli-" + host();
  }

  /** The verifier key of this host's CLI log (same token key as the node's, its own name). */
  public static VerifierKey verifierKey(Hsm hsm, ApiConfig cfg) throws HsmException {
    return VerifierKey.of(origin(cfg), hsm.ed25519PublicKey(cfg.audit().keyLabel()));
  }

  static AuditLogOptions options(ApiConfig cfg) {
    AuditLogOptions node = AuditKeys.options(cfg.audit());
    // One record per run: no batching delay; a checkpoint at close.
    return new AuditLogOptions(directory(cfg), origin(cfg), "cli-" + host(),
        node.batchMaxRecords(), Duration.ZERO, node.queueLimit(), node.segmentMaxBytes(),
        node.segmentMaxAge(), node.retention(), node.checkpointInterval());
  }

  /**
   * The operator: {@code os:<user>}, plus the login user when it differs (the kernel's audit
   * login uid, {@code /proc/self/loginuid}, which survives su, sudo and {@code runuser -u
   * ims-kms}) and who ran sudo. Operators run {@code kms} as the service user (docs/operations.md),
   * so the login user is what names the person.
   */
  static String operator(CliContext ctx) {
    String user = System.getProperty("user.name", "unknown");
    StringBuilder b = new StringBuilder("os:").append(user);
    String login = loginUser();
    if (login != null && !login.equals(user)) {
      b.append(" (login ").append(login).append(')');
    }
    String sudo = ctx.env().get("SUDO_USER");
    if (sudo != null && !sudo.isBlank() && !sudo.equals(user) && !sudo.equals(login)) {
      b.append(" (sudo by ").append(sudo).append(')');
    }
    return b.toString();
  }

  /** The login user's name from the audit login uid, or null when unset or unknown. */
  static String loginUser() {
    try {
      String uid = Files.readString(Path.of("/proc/self/loginuid")).strip();
      if (uid.isEmpty() || uid.equals("4294967295") || uid.equals("-1")) {
        return null;
      }
      for (String line : Files.readAllLines(Path.of("/etc/passwd"))) {
        String[] f = line.split(":");
        if (f.length > 2 && f[2].equals(uid)) {
          return f[0];
        }
      }
      return "uid " + uid;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** This run's id: the {@code requestId} of its records. */
  public String runId() {
    return runId;
  }

  /** A record of this run: {@code requestId} and {@code caller} filled in. */
  public AuditEvent.Builder event(String name, AuditEvent.Outcome outcome) {
    return AuditEvent.builder(name, outcome).requestId(runId).caller(operator(ctx));
  }

  /**
   * Appends {@code event} (identities pseudonymised if configured) and waits until it is durable.
   *
   * @throws CliException exit 1 when it could not be written
   */
  public AuditRecord record(AuditEvent event) throws CliException {
    AuditEvent e = event;
    try {
      if (pseudonyms != null) {
        e = pseudonyms.apply(event, false);
      }
      AuditRecord r = log.append(e).get(APPEND_WAIT.toMillis(), TimeUnit.MILLISECONDS);
      records++;
      return r;
    } catch (HsmException ex) {
      throw new CliException(ExitCodes.FAILURE, "audit record " + event.event() + " not written:"
          + " its identities cannot be pseudonymised (" + ex.getMessage() + ")", ex);
    } catch (ExecutionException | TimeoutException ex) {
      Throwable c = ex instanceof ExecutionException ? ex.getCause() : ex;
      throw new CliException(ExitCodes.FAILURE, "audit record " + event.event() + " not written"
          + " to " + directory(cfg) + ": " + c.getMessage(), c);
    } catch (InterruptedException ex) {
      Thread.currentThread().interrupt();
      throw new CliException(ExitCodes.FAILURE, "interrupted while writing audit record "
          + event.event());
    }
  }

  /** Records a failed step: refused (a usage or policy refusal) or fault; never throws. */
  void recordFailure(AuditEvent.Builder rec, String event, Exception e) {
    boolean fault = e instanceof CliException c ? c.exitCode() == ExitCodes.HSM_UNAVAILABLE
        : e instanceof HsmException h && (h.kind() == HsmException.Kind.UNAVAILABLE);
    AuditEvent built = rec.build();
    String code = e instanceof KmsException k ? String.valueOf(k.code())
        : e instanceof CliException c ? "EXIT_" + c.exitCode()
        : e instanceof HsmException h ? "HSM_" + h.kind().name()
        : e.getClass().getSimpleName().replaceAll("[^A-Za-z0-9_]", "");
    AuditEvent failed = new AuditEvent(built.time(), event,
        fault ? AuditEvent.Outcome.FAULT : AuditEvent.Outcome.REFUSED, code, built.requestId(),
        built.caller(), built.idA(), built.idB(), built.idBm(), built.keyVersions(),
        built.ticket(), built.clientCert(), built.detail());
    try {
      record(failed);
    } catch (CliException ce) {
      ctx.progress("warning: " + ce.getMessage());
    }
  }

  /**
   * Closes the log: signs a checkpoint over this run's records and releases the lock.
   *
   * @throws CliException exit 1 when records were written but the checkpoint was not signed
   */
  @Override
  public void close() throws CliException {
    if (closed) {
      return;
    }
    closed = true;
    try {
      log.close();
      if (records > 0) {
        String note = log.latestCheckpoint();
        long covered = -1;
        if (note != null) {
          try {
            covered = Checkpoint.open(note, log.verifierKey()).size();
          } catch (Exception e) {
            covered = -1;
          }
        }
        if (covered < log.size()) {
          throw new CliException(ExitCodes.FAILURE, "the audit record(s) of this run are in "
              + directory(cfg) + " but no checkpoint covers them (the HSM did not sign; they"
              + " are verified with the next run's checkpoint)");
        }
        ctx.progress("audit: " + records + " record(s) of run " + runId + " in " + directory(cfg)
            + " (" + log.size() + " records, checkpoint signed)");
      }
    } finally {
      release(lockChannel, fileLock, localLock);
    }
  }

  @Override
  public String toString() {
    return "CliAudit[" + origin(cfg) + ", run " + runId + "]";
  }
}
