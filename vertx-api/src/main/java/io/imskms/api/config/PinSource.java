package io.imskms.api.config;

import io.imskms.hsm.HsmConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Map;
import java.util.Set;

/**
 * Where the HSM user PIN comes from: {@code KMS_HSM_PIN} if set, else the file named by
 * {@code hsm.pinFile} ({@code KMS_HSM_PIN_FILE}). Never from the YAML file, never logged.
 */
public final class PinSource {
  /** The environment variable that may carry the PIN itself. */
  public static final String ENV_PIN = "KMS_HSM_PIN";

  private PinSource() {}

  /** The PIN as a fresh array; the caller wipes it after use. */
  public static char[] read(ApiConfig.Hsm hsm, Map<String, String> env) throws ConfigException {
    String fromEnv = env.get(ENV_PIN);
    if (fromEnv != null && !fromEnv.isEmpty()) {
      return fromEnv.toCharArray();
    }
    Path file = Path.of(hsm.pinFile());
    if (!Files.isReadable(file)) {
      throw new ConfigException("no HSM PIN: set " + ENV_PIN + " or make hsm.pinFile ("
          + file + ") readable");
    }
    try {
      Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
      if (perms.contains(PosixFilePermission.OTHERS_READ)
          || perms.contains(PosixFilePermission.GROUP_READ)) {
        throw new ConfigException("PIN file " + file + " is readable by group or others:"
            + " chmod 600 it");
      }
      return HsmConfig.readPinFile(file);
    } catch (UnsupportedOperationException e) {
      try {
        return HsmConfig.readPinFile(file);
      } catch (IOException io) {
        throw new ConfigException("cannot read PIN file " + file);
      }
    } catch (IOException e) {
      throw new ConfigException("cannot read PIN file " + file);
    }
  }
}
