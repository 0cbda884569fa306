package io.imskms.client;

import io.imskms.files.OwnerOnlyFiles;
import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Role;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A device's credential store as a file: role, identity, credential version and Kp <em>in the
 * clear</em>, readable by its owner only (mode 0600). For development devices and the demo
 * clients; a real device keeps Kp in its secure element.
 *
 * <p>Format (UTF-8, one {@code key=value} per line, exactly these keys in this order):
 *
 * <pre>
 * imskms-credential=1
 * role=ue
 * id=sip:alice@ims.example.com
 * credVersion=1
 * kp=&lt;base64url of the 32-byte Kp, unpadded&gt;
 * </pre>
 *
 * <p>A credential of a re-enrolled principal (generation 1 or more) has one more line,
 * {@code generation=N}, between {@code credVersion} and {@code kp}; generation 0 has none, so
 * the files written before generations existed read unchanged.
 *
 * <p>Security guarantees: {@link #write} creates the file with mode 0600 (in a temporary file in
 * the same directory, moved into place), refuses to replace an existing file unless asked, and
 * {@link #read} refuses a file that group or others can read. Neither method puts Kp in an
 * exception message.
 */
public final class CleartextCredentialFile {
  private static final String MAGIC = "imskms-credential";
  private static final List<String> KEYS = List.of(MAGIC, "role", "id", "credVersion", "kp");
  private static final List<String> KEYS_WITH_GENERATION =
      List.of(MAGIC, "role", "id", "credVersion", "generation", "kp");

  private CleartextCredentialFile() {}

  /**
   * Writes {@code cred} to {@code file} (mode 0600).
   *
   * @param replace whether an existing file may be replaced
   * @throws FileAlreadyExistsException if the file exists and {@code replace} is false
   */
  public static void write(Credential cred, Path file, boolean replace) throws IOException {
    if (!replace && Files.exists(file)) {
      throw new FileAlreadyExistsException(file.toString(), null,
          "credential file exists; not replaced");
    }
    String kp = Base64.getUrlEncoder().withoutPadding().encodeToString(cred.kp().internal());
    byte[] text = (MAGIC + "=1\nrole=" + roleName(cred.role()) + "\nid=" + cred.id()
        + "\ncredVersion=" + cred.credVersion()
        + (cred.generation() == 0 ? "" : "\ngeneration=" + cred.generation())
        + "\nkp=" + kp + "\n")
        .getBytes(StandardCharsets.UTF_8);
    try {
      OwnerOnlyFiles.write(file, text);
    } finally {
      Arrays.fill(text, (byte) 0);
    }
  }

  /** Reads a credential file written by {@link #write}. */
  public static Credential read(Path file) throws IOException {
    try {
      Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
      if (perms.contains(PosixFilePermission.GROUP_READ)
          || perms.contains(PosixFilePermission.OTHERS_READ)) {
        throw new IOException("credential file " + file + " is readable by group or others:"
            + " chmod 600 it");
      }
    } catch (UnsupportedOperationException notPosix) {
      // Nothing to check on a file system without POSIX permissions.
    }
    byte[] raw = Files.readAllBytes(file);
    Map<String, String> fields = new LinkedHashMap<>();
    try {
      String[] lines = new String(raw, StandardCharsets.UTF_8).split("\n");
      for (String line : lines) {
        int eq = line.indexOf('=');
        if (eq <= 0 || fields.put(line.substring(0, eq), line.substring(eq + 1)) != null) {
          throw bad(file, "a line is not key=value, or a key is repeated");
        }
      }
      List<String> keys = List.copyOf(fields.keySet());
      if (!(keys.equals(KEYS) || keys.equals(KEYS_WITH_GENERATION))
          || !"1".equals(fields.get(MAGIC))) {
        throw bad(file, "expected the keys " + KEYS + " in this order, format 1");
      }
      Role role = switch (fields.get("role")) {
        case "ue" -> Role.UE;
        case "mailbox" -> Role.MAILBOX;
        default -> throw bad(file, "role must be ue or mailbox");
      };
      String id = Identity.requireNormal(fields.get("id"));
      int credVersion;
      try {
        credVersion = Integer.parseInt(fields.get("credVersion"));
      } catch (NumberFormatException e) {
        throw bad(file, "credVersion is not a number");
      }
      int generation = 0;
      if (fields.containsKey("generation")) {
        try {
          generation = Integer.parseInt(fields.get("generation"));
        } catch (NumberFormatException e) {
          throw bad(file, "generation is not a number");
        }
        if (generation < 1) {
          throw bad(file, "generation must be at least 1 (0 is written as no line)");
        }
      }
      byte[] kp;
      try {
        kp = Base64.getUrlDecoder().decode(fields.get("kp"));
      } catch (IllegalArgumentException e) {
        throw bad(file, "kp is not base64url");
      }
      if (kp.length != 32) {
        Arrays.fill(kp, (byte) 0);
        throw bad(file, "kp is not 32 bytes");
      }
      return new Credential(role, id, credVersion, generation, SecretBytes.adopt(kp));
    } catch (ProtocolException e) {
      throw bad(file, "id is not an identity in normal form");
    } finally {
      Arrays.fill(raw, (byte) 0);
      fields.clear();
    }
  }

  private static IOException bad(Path file, String why) {
    return new IOException("not a credential file: " + file + ": " + why);
  }

  private static String roleName(Role role) {
    return role == Role.MAILBOX ? "mailbox" : "ue";
  }

}
