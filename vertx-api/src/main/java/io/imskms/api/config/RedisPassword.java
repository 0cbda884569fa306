package io.imskms.api.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;

/**
 * The Redis password, from the file named by {@code redis.passwordFile} (first line, no
 * trailing whitespace): never from the YAML itself, never logged. Refused when the file can be
 * read by group or others, like the HSM PIN file.
 */
public final class RedisPassword {
  private RedisPassword() {}

  /** The password, or null when {@code redis.passwordFile} is empty. */
  public static String read(ApiConfig.Redis redis) throws ConfigException {
    String name = redis.passwordFile();
    if (name == null || name.isBlank()) {
      return null;
    }
    Path file = Path.of(name);
    if (!Files.isReadable(file)) {
      throw new ConfigException("redis.passwordFile (" + file + ") is not readable");
    }
    try {
      try {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
        if (perms.contains(PosixFilePermission.OTHERS_READ)
            || perms.contains(PosixFilePermission.GROUP_READ)) {
          throw new ConfigException("Redis password file " + file + " is readable by group or"
              + " others: chmod 600 it");
        }
      } catch (UnsupportedOperationException e) {
        // not a POSIX file system: nothing to check
      }
      String s = Files.readString(file, StandardCharsets.UTF_8);
      int nl = s.indexOf('\n');
      String pw = (nl < 0 ? s : s.substring(0, nl)).strip();
      if (pw.isEmpty()) {
        throw new ConfigException("Redis password file " + file + " is empty");
      }
      return pw;
    } catch (IOException e) {
      throw new ConfigException("cannot read Redis password file " + file);
    }
  }
}
