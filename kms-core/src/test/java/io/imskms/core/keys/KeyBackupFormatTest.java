package io.imskms.core.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.hsm.HsmIntegrityException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The form checks of {@link KeyBackup#parse}, taken before the file's MAC is checked (pure
 * parsing: no token). Each malformed file is refused with its own message.
 */
class KeyBackupFormatTest {
  private static final String MAC = "MAC " + "0123456789abcdef".repeat(4) + "\n";
  private static final String BODY =
      "{\"format\":\"imskms-key-backup\",\"version\":1,\"componentKcvs\":[\"a\",\"b\"]}\n";

  private static String refusal(String file) {
    return assertThrows(HsmIntegrityException.class,
        () -> KeyBackup.parse(file.getBytes(StandardCharsets.US_ASCII))).getMessage();
  }

  @Test
  void aWellFormedFile_parses_soTheRefusalsBelowAreOfTheirFormOnly() throws Exception {
    KeyBackup.File f = KeyBackup.parse(
        (KeyBackup.HEADER + "\n" + BODY + MAC).getBytes(StandardCharsets.US_ASCII));
    assertEquals(List.of("a", "b"), f.componentKcvs());
  }

  @Test
  void aFileWithoutTheHeader_isRefusedAsNotABackupFile() {
    for (String file : new String[] {"", BODY + MAC, "IMSKMS-KEY-BACKUP 2\n" + BODY + MAC,
        KeyBackup.HEADER + BODY + MAC}) {
      String m = refusal(file);
      assertTrue(m.contains("not a key backup file"), m);
    }
  }

  @Test
  void aFileWithoutAMacLine_isRefusedAsTruncated() {
    for (String file : new String[] {KeyBackup.HEADER + "\n" + BODY,
        KeyBackup.HEADER + "\n" + BODY + MAC.substring(0, MAC.length() - 1),
        KeyBackup.HEADER + "\n" + BODY + MAC.substring(0, 30)}) {
      String m = refusal(file);
      assertTrue(m.contains("no MAC line"), m);
    }
  }

  @Test
  void aMalformedMacLine_isRefused() {
    for (String mac : new String[] {"MAC \n", "MAC " + "0".repeat(63) + "\n",
        "MAC " + "0".repeat(65) + "\n", "MAC " + "ABCDEF0123456789".repeat(4) + "\n",
        "MAC " + "g".repeat(64) + "\n", "MAC  " + "0".repeat(64) + "\n"}) {
      String m = refusal(KeyBackup.HEADER + "\n" + BODY + mac);
      assertTrue(m.contains("MAC line is malformed"), m);
    }
  }

  @Test
  void aBodyNotOfTheBackupFormat_isRefused() {
    String notJson = refusal(KeyBackup.HEADER + "\n{\"format\":\n" + MAC);
    assertTrue(notJson.contains("not valid JSON"), notJson);
    for (String body : new String[] {"\n", "[]\n", "\"imskms-key-backup\"\n",
        "{\"version\":1}\n", "{\"format\":\"other\",\"version\":1}\n",
        "{\"format\":\"imskms-key-backup\"}\n",
        "{\"format\":\"imskms-key-backup\",\"version\":2}\n"}) {
      String m = refusal(KeyBackup.HEADER + "\n" + body + MAC);
      assertTrue(m.contains("not of format imskms-key-backup version 1"), body + ": " + m);
    }
  }
}
