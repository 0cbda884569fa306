package io.imskms.core.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The manifest file format, without a token. */
class KeyManifestTest {
  @TempDir
  Path dir;

  private static String manifest(String keys) {
    return "{\"version\": 1, \"token\": \"ims-kms\", \"keys\": [" + keys + "]}";
  }

  private static String key(String label, int version, String purpose, String kcv) {
    return "{\"label\": \"" + label + "\", \"version\": " + version + ", \"purpose\": \""
        + purpose + "\", \"kcv\": \"" + kcv + "\", \"created\": \"2025-01-31T10:15:30Z\"}";
  }

  private KeyManifestException readFails(String content) throws Exception {
    Path f = dir.resolve("bad.json");
    Files.writeString(f, content);
    return assertThrows(KeyManifestException.class, () -> KeyManifest.read(f));
  }

  @Test
  void writeThenRead_roundTripsEveryField() throws Exception {
    Path f = dir.resolve("keys.json");
    KeyManifest written = new KeyManifest("ims-kms", List.of(
        new KeyManifest.Entry(KeyPurpose.CRED_ROOT, 1, "0123456789abcdef",
            Optional.of(Instant.parse("2025-01-31T10:15:30Z"))),
        new KeyManifest.Entry(KeyPurpose.TICKET_ROOT, 3, "fedcba9876543210", Optional.empty())));
    written.write(f);
    KeyManifest read = KeyManifest.read(f);
    assertEquals(written.entries(), read.entries());
    assertEquals(Optional.of("ims-kms"), read.token());
    assertEquals(Map.of("kms-cred-root#v1", "0123456789abcdef",
        "kms-ticket-root#v3", "fedcba9876543210"), read.expectedKcvs());
    assertTrue(Files.readString(f).contains("\"label\" : \"kms-ticket-root\""));
  }

  @Test
  void read_missingFile_isNoSuchFileException() {
    assertThrows(NoSuchFileException.class, () -> KeyManifest.read(dir.resolve("none.json")));
  }

  @Test
  void read_labelOfAnotherPurpose_isRejected() throws Exception {
    KeyManifestException e = readFails(manifest(
        key("kms-media-root", 1, "TICKET_ROOT", "0123456789abcdef")));
    assertTrue(e.getMessage().contains("$.keys[0].label"), e.getMessage());
  }

  @Test
  void read_malformedKcvVersionOrPurpose_isRejectedNamingTheField() throws Exception {
    assertTrue(readFails(manifest(key("kms-cred-root", 1, "CRED_ROOT", "0123456789ABCDEF")))
        .getMessage().contains("$.keys[0].kcv"));
    assertTrue(readFails(manifest(key("kms-cred-root", 0, "CRED_ROOT", "0123456789abcdef")))
        .getMessage().contains("$.keys[0].version"));
    assertTrue(readFails(manifest(key("kms-cred-root", 1, "ROOT", "0123456789abcdef")))
        .getMessage().contains("$.keys[0].purpose"));
  }

  @Test
  void read_sameKeyTwice_isRejected() throws Exception {
    String k = key("kms-cred-root", 1, "CRED_ROOT", "0123456789abcdef");
    assertTrue(readFails(manifest(k + ", " + k)).getMessage().contains("listed twice"));
  }

  @Test
  void read_unknownFieldOtherVersionOrInvalidJson_isRejected() throws Exception {
    assertTrue(readFails("{\"version\": 1, \"keys\": [], \"extra\": 1}").getMessage()
        .contains("$.extra"));
    assertTrue(readFails("{\"version\": 2, \"keys\": []}").getMessage().contains("$.version"));
    assertTrue(readFails("{\"version\": 1, \"keys\": [\n}").getMessage().contains("line 2"));
    readFails("");
  }
}
