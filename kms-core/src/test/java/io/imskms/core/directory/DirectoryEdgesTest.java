package io.imskms.core.directory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The mailbox directory's reload signal and error messages at their edges, where mutation testing
 * (PIT) showed a changed return value or boundary going unnoticed (docs/assurance.md).
 */
class DirectoryEdgesTest {

  @Test
  void directoryReloadIfChanged_saysWhetherItReplacedTheDirectory(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("directory.json");
    Files.writeString(file, "{\"version\":1,\"mailboxes\":{\"sip:vm.bob@x.com\":"
        + "{\"users\":[\"sip:bob@x.com\"]}}}", StandardCharsets.UTF_8);
    MailboxDirectory d = MailboxDirectory.load(file);
    assertEquals(file, d.file());
    assertFalse(d.reloadIfChanged(), "unchanged file");
    Files.writeString(file, "{\"version\":1,\"mailboxes\":{\"sip:vm.bob@x.com\":"
        + "{\"users\":[\"sip:bob@x.com\",\"sip:carol@x.com\"]}}}", StandardCharsets.UTF_8);
    Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis() + 5_000));
    assertTrue(d.reloadIfChanged(), "changed file");
    assertEquals(2, d.userCount());
    assertFalse(d.reloadIfChanged(), "unchanged again");
  }

  @Test
  void directoryErrors_nameLineAndColumnOnlyWhenKnown() {
    Path f = Path.of("dir.json");
    assertEquals("mailbox directory dir.json, line 3, column 7, at $.x: bad",
        new MailboxDirectoryException(f, 3, 7, "$.x", "bad", null).getMessage());
    assertEquals("mailbox directory dir.json, line 1: bad",
        new MailboxDirectoryException(f, 1, 0, null, "bad", null).getMessage());
    assertEquals("mailbox directory dir.json: bad",
        new MailboxDirectoryException(f, 0, 1, null, "bad", null).getMessage());
    assertEquals(7, new MailboxDirectoryException(f, 3, 7, null, "bad", null).column());
  }
}
