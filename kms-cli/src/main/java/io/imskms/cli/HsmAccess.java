package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.api.config.ConfigException;
import io.imskms.api.config.PinSource;
import io.imskms.core.keys.KeyManifest;
import io.imskms.hsm.HsmConfig;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.Pkcs11Hsm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * Opens the configured token the way the server does ({@code hsm.*} keys, the PIN from
 * {@code KMS_HSM_PIN} or {@code hsm.pinFile}, the key manifest's KCVs pinned), after checking the
 * prerequisites so that a missing library or PIN is reported as such (exit 2) and not as an HSM
 * fault (exit 3).
 */
public final class HsmAccess {
  private HsmAccess() {}

  /** Exit 2 unless the PKCS#11 library exists and, for SoftHSM2, SOFTHSM2_CONF names a file. */
  public static void checkPrerequisites(ApiConfig config, CliContext ctx) throws CliException {
    Path module = Path.of(config.hsm().module());
    if (!Files.isReadable(module)) {
      throw new CliException(ExitCodes.PREREQUISITE, "PKCS#11 library not found: " + module
          + " (SoftHSM2 on Debian: apt-get install -y softhsm2 opensc, or bin/kms up)");
    }
    if (module.getFileName().toString().toLowerCase(Locale.ROOT).contains("softhsm")) {
      String conf = ctx.env().get("SOFTHSM2_CONF");
      if (conf == null || conf.isBlank()) {
        throw new CliException(ExitCodes.PREREQUISITE, "SOFTHSM2_CONF is not set: point it at"
            + " the token's configuration (var/softhsm/softhsm2.conf after bin/kms up; bin/kms"
            + " sets it). Without it SoftHSM2 would use the system-wide token store.");
      }
      if (!Files.isRegularFile(Path.of(conf))) {
        throw new CliException(ExitCodes.PREREQUISITE, "SOFTHSM2_CONF names " + conf
            + ", which does not exist (bin/kms setup-token or bin/kms up creates it)");
      }
    }
  }

  /** The user PIN (the caller wipes it); exit 2 when there is none. */
  public static char[] userPin(ApiConfig config, CliContext ctx) throws CliException {
    try {
      return PinSource.read(config.hsm(), ctx.env());
    } catch (ConfigException e) {
      throw new CliException(ExitCodes.PREREQUISITE, e.getMessage());
    }
  }

  /** Opens the token; exit 3 when it cannot be used. */
  public static Pkcs11Hsm open(ApiConfig config, CliContext ctx) throws CliException {
    checkPrerequisites(config, ctx);
    try {
      return Pkcs11Hsm.open(hsmConfig(config, ctx));
    } catch (HsmException e) {
      throw unavailable(config, e);
    }
  }

  /**
   * The adapter configuration the server would use ({@code hsm.*}, the PIN, the manifest's KCVs,
   * {@code core.keyBackup}); exit 2 when the PIN is missing.
   */
  public static HsmConfig hsmConfig(ApiConfig config, CliContext ctx) throws CliException {
    char[] pin = userPin(config, ctx);
    try {
      ApiConfig.Hsm h = config.hsm();
      return HsmConfig.builder()
          .modulePath(Path.of(h.module()))
          .tokenLabel(h.tokenLabel())
          .userPin(pin)
          .poolSize(Math.max(1, h.poolSize()))
          .borrowTimeout(Duration.ofMillis(h.borrowTimeoutMs()))
          .recycleAfterObjects(h.recycleAfterObjects())
          .recoveryInterval(Duration.ofMillis(h.recoveryIntervalMs()))
          .deriveTemplateSupported(h.deriveTemplateSupported())
          .sharedKeys(h.sharedKeys())
          .backupCapableKeys(config.core().keyBackup())
          .expectedKcvs(expectedKcvs(config))
          .build();
    } finally {
      Arrays.fill(pin, '\0');
    }
  }

  /** The KCVs recorded in the key manifest, if one is configured and exists. */
  static Map<String, String> expectedKcvs(ApiConfig config) throws CliException {
    String manifest = config.core().keyManifest();
    if (manifest.isBlank() || !Files.exists(Path.of(manifest))) {
      return Map.of();
    }
    try {
      return KeyManifest.read(Path.of(manifest)).expectedKcvs();
    } catch (IOException e) {
      throw new CliException(ExitCodes.FAILURE, "cannot read the key manifest " + manifest + ": "
          + e.getMessage());
    }
  }

  public static CliException unavailable(ApiConfig config, HsmException e) {
    return new CliException(ExitCodes.HSM_UNAVAILABLE, "HSM unavailable (token '"
        + config.hsm().tokenLabel() + "' via " + config.hsm().module() + "): " + e.getMessage(),
        e);
  }
}
