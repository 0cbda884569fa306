package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.core.LongTermKeys;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.principals.PrincipalRegistry;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.protocol.EnrolmentFile;
import io.imskms.protocol.EnrolmentRequest;
import io.imskms.protocol.Role;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The server side of enrolment (docs/protocol.md §5) as the CLI runs it: the configured mailbox
 * directory and token, one enrolment request in, the enrolment package (message 0x05) out. Kp
 * leaves the HSM only wrapped under a key that the device's private key alone can recover. Each
 * enrolment, granted or refused, is recorded ({@code enrolment}) in this host's CLI audit log
 * ({@link CliAudit}) before the package is handed back.
 */
public final class EnrolmentStation {
  private EnrolmentStation() {}

  /**
   * Enrols one principal.
   *
   * @param requestBytes an encoded enrolment request (message 0x04: role, identity, device key)
   * @return the enrolment package for the device
   */
  public static byte[] enrol(ApiConfig cfg, CliContext ctx, byte[] requestBytes)
      throws Exception {
    return enrol(cfg, ctx, requestBytes, false);
  }

  /**
   * Enrols one principal at its current credential generation (docs/protocol.md §5.1); with
   * {@code replace}, first moves it to the next generation (lifting any revocation), so that every
   * credential enrolled before, and every B-TID made from one, is refused with PRINCIPAL_REVOKED
   * from then on. A revoked principal is refused unless {@code replace}.
   *
   * @param requestBytes an encoded enrolment request (message 0x04: role, identity, device key)
   * @return the enrolment package for the device
   */
  public static byte[] enrol(ApiConfig cfg, CliContext ctx, byte[] requestBytes,
      boolean replace) throws Exception {
    Path directoryFile = Path.of(cfg.core().directoryFile());
    if (!Files.isRegularFile(directoryFile)) {
      throw new CliException(ExitCodes.PREREQUISITE, "mailbox directory not found: "
          + directoryFile + " (core.directoryFile; bin/kms up writes a sample)");
    }
    MailboxDirectory directory = MailboxDirectory.load(directoryFile);
    try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
      EcdhEnrolment enrolment;
      PrincipalRegistry principals;
      try {
        principals = PrincipalRegistry.load(hsm);
        enrolment = new EcdhEnrolment(hsm, LongTermKeys.of(KeyRing.load(hsm)), directory,
            principals);
      } catch (HsmIntegrityException e) {
        throw new CliException(ExitCodes.FAILURE, e.getMessage(), e);
      } catch (HsmException e) {
        throw new CliException(ExitCodes.HSM_UNAVAILABLE, "cannot load the long-term keys"
            + " (run kms token init?): " + e.getMessage(), e);
      }
      EnrolmentRequest req = EnrolmentRequest.decode(requestBytes);
      return CliAudit.step(cfg, hsm, ctx, "enrolment", rec -> {
        if (req.role() == Role.MAILBOX) {
          rec.idBm(req.id());
        } else {
          rec.idA(req.id());
        }
        rec.detail("role " + req.role().name().toLowerCase(Locale.ROOT)
            + (replace ? "; re-enrolment" : ""));
        if (replace) {
          int generation = principals.reenrol(req.id()).after().generation();
          rec.detail("role " + req.role().name().toLowerCase(Locale.ROOT) + "; re-enrolment:"
              + " generation " + generation + " recorded (earlier credentials refused)");
          ctx.progress(req.id() + " moved to credential generation " + generation + ": every"
              + " earlier credential of it is refused on every node within"
              + " core.keyPollSeconds");
        }
        byte[] pkg = enrolment.enrol(requestBytes);
        EnrolmentFile file = EnrolmentFile.decode(pkg);
        int credVersion = file.credVersion();
        rec.keyVersions("credential:" + credVersion).detail("role "
            + req.role().name().toLowerCase(Locale.ROOT) + "; credential Kp (version "
            + credVersion + ", generation " + file.generation() + ") wrapped for the device's"
            + " key" + (replace ? "; re-enrolment" : ""));
        return pkg;
      });
    }
  }
}
