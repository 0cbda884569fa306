package io.imskms.core.directory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MailboxDirectoryTest {
  private static final String VM_BOB = "sip:vm.bob@ims.example.com";
  private static final String VM_CAROL = "sip:vm.carol@ims.example.com";

  private static final String GOOD = "{\n"
      + "  \"version\": 1,\n"
      + "  \"mailboxes\": {\n"
      + "    \"sip:vm.bob@ims.example.com\": {\"users\": [\"sip:bob@ims.example.com\",\n"
      + "                                               \"tel:+4930123456\"]},\n"
      + "    \"sip:vm.carol@ims.example.com\": {\"users\": [\"sip:carol@ims.example.com\"]}\n"
      + "  }\n"
      + "}\n";

  @TempDir
  Path dir;

  private Path write(String name, String content) throws IOException {
    Path tmp = dir.resolve(name + ".tmp");
    Files.writeString(tmp, content, StandardCharsets.UTF_8);
    Path file = dir.resolve(name);
    // Atomic replacement, as the documentation asks of operators.
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    return file;
  }

  private MailboxDirectoryException loadFails(String content) throws IOException {
    Path f = write("bad.json", content);
    return assertThrows(MailboxDirectoryException.class, () -> MailboxDirectory.load(f));
  }

  private static String oneMailbox(String mailbox, String... users) {
    StringBuilder b = new StringBuilder("{\"version\": 1, \"mailboxes\": {\"" + mailbox
        + "\": {\"users\": [");
    for (int i = 0; i < users.length; i++) {
      b.append(i == 0 ? "" : ", ").append('"').append(users[i]).append('"');
    }
    return b.append("]}}}").toString();
  }

  // ------------------------------------------------------------------ lookups

  @Test
  void load_validFile_mapsEachUserToItsMailbox() throws Exception {
    MailboxDirectory d = MailboxDirectory.load(write("dir.json", GOOD));
    assertEquals(Optional.of(VM_BOB), d.mailboxOf("sip:bob@ims.example.com"));
    assertEquals(Optional.of(VM_BOB), d.mailboxOf("tel:+4930123456"));
    assertEquals(Optional.of(VM_CAROL), d.mailboxOf("sip:carol@ims.example.com"));
    assertEquals(Optional.empty(), d.mailboxOf("sip:dave@ims.example.com"));
    assertTrue(d.isMailbox(VM_BOB));
    assertFalse(d.isMailbox("sip:bob@ims.example.com"));
    assertTrue(d.isKnownUser("sip:carol@ims.example.com"));
    assertFalse(d.isKnownUser(VM_CAROL));
    assertEquals(2, d.mailboxCount());
    assertEquals(3, d.userCount());
  }

  @Test
  void lookups_compareNormalisedIdentities() throws Exception {
    MailboxDirectory d = MailboxDirectory.load(write("dir.json", GOOD));
    assertEquals(Optional.of(VM_BOB), d.mailboxOf(" SIP:bob@IMS.Example.com "));
    assertTrue(d.isMailbox("sip:vm.bob@IMS.EXAMPLE.COM"));
    assertTrue(d.isKnownUser("TEL:+4930123456"));
    // The user part of a SIP URI is case-sensitive (RFC 3261 19.1.4).
    assertFalse(d.isKnownUser("sip:BOB@ims.example.com"));
  }

  @Test
  void lookups_withMalformedIdentity_areUnknownRatherThanErrors() throws Exception {
    MailboxDirectory d = MailboxDirectory.load(write("dir.json", GOOD));
    assertEquals(Optional.empty(), d.mailboxOf(""));
    assertEquals(Optional.empty(), d.mailboxOf(null));
    assertFalse(d.isMailbox("  "));
    assertFalse(d.isKnownUser("sip:@ims.example.com"));
    assertFalse(d.isKnownUser("sip:bob@ims.example.com\n"
        + "sip:carol@ims.example.com"));
  }

  @Test
  void load_mailboxWithoutUsers_isAMailboxServingNobody() throws Exception {
    MailboxDirectory d = MailboxDirectory.load(write("dir.json", oneMailbox(VM_BOB)));
    assertTrue(d.isMailbox(VM_BOB));
    assertEquals(0, d.userCount());
  }

  @Test
  void load_versionAfterMailboxes_isAccepted() throws Exception {
    MailboxDirectory d = MailboxDirectory.load(write("dir.json",
        "{\"mailboxes\": {\"sip:vm@x.example\": {\"users\": [\"sip:u@x.example\"]}},"
            + " \"version\": 1}"));
    assertTrue(d.isKnownUser("sip:u@x.example"));
  }

  // ------------------------------------------------------------------ rejected files

  @Test
  void load_userServedByTwoMailboxes_isRejectedNamingUserBothMailboxesAndLine() throws Exception {
    MailboxDirectoryException e = loadFails("{\n"
        + "  \"version\": 1,\n"
        + "  \"mailboxes\": {\n"
        + "    \"sip:vm.a@x.example\": {\"users\": [\"sip:bob@x.example\"]},\n"
        + "    \"sip:vm.b@x.example\": {\"users\": [\"sip:BOB@x.example\", \"sip:bob@X.example\"]}\n"
        + "  }\n"
        + "}\n");
    assertEquals(5, e.line(), e.getMessage());
    assertEquals(Optional.of("$.mailboxes[\"sip:vm.b@x.example\"].users[1]"), e.field());
    assertTrue(e.getMessage().contains("sip:bob@x.example"), e.getMessage());
    assertTrue(e.getMessage().contains("sip:vm.a@x.example"), e.getMessage());
    assertTrue(e.getMessage().contains("sip:vm.b@x.example"), e.getMessage());
    assertTrue(e.getMessage().contains("line 4"), e.getMessage());
  }

  @Test
  void load_userListedTwiceInOneMailbox_isRejected() throws Exception {
    MailboxDirectoryException e = loadFails(oneMailbox(VM_BOB, "sip:bob@x.example",
        "sip:carol@x.example", "sip:bob@x.example"));
    assertEquals(Optional.of("$.mailboxes[\"" + VM_BOB + "\"].users[2]"), e.field());
    assertTrue(e.problem().contains("listed twice"), e.getMessage());
  }

  @Test
  void load_userDuplicateOnlyAfterNormalisation_isRejected() throws Exception {
    MailboxDirectoryException e = loadFails(oneMailbox(VM_BOB, "sip:bob@X.EXAMPLE",
        " sip:bob@x.example"));
    assertTrue(e.problem().contains("listed twice"), e.getMessage());
  }

  @Test
  void load_mailboxListedTwice_isRejected() throws Exception {
    MailboxDirectoryException exact = loadFails("{\"version\": 1, \"mailboxes\": {\n"
        + "\"sip:vm@x.example\": {\"users\": []},\n"
        + "\"sip:vm@x.example\": {\"users\": []}}}");
    assertEquals(3, exact.line(), exact.getMessage());
    MailboxDirectoryException normalised = loadFails("{\"version\": 1, \"mailboxes\": {\n"
        + "\"sip:vm@x.example\": {\"users\": []},\n"
        + "\"SIP:vm@X.example\": {\"users\": []}}}");
    assertEquals(3, normalised.line(), normalised.getMessage());
    assertTrue(normalised.problem().contains("listed twice"), normalised.getMessage());
  }

  @Test
  void load_emptyUserIdentity_isRejectedWithItsField() throws Exception {
    MailboxDirectoryException e = loadFails(oneMailbox(VM_BOB, "sip:bob@x.example", "  "));
    assertEquals(Optional.of("$.mailboxes[\"" + VM_BOB + "\"].users[1]"), e.field());
    assertTrue(e.problem().contains("empty"), e.getMessage());
  }

  @Test
  void load_emptyMailboxIdentity_isRejected() throws Exception {
    MailboxDirectoryException e = loadFails(oneMailbox("", "sip:bob@x.example"));
    assertEquals(Optional.of("$.mailboxes[\"\"]"), e.field());
    assertTrue(e.problem().contains("mailbox identity"), e.getMessage());
  }

  @Test
  void load_malformedSipIdentity_isRejected() throws Exception {
    MailboxDirectoryException e = loadFails(oneMailbox(VM_BOB, "sip:@x.example"));
    assertTrue(e.problem().contains("non-empty user"), e.getMessage());
  }

  @Test
  void load_mailboxThatIsAlsoAUserOfAnotherMailbox_isRejected() throws Exception {
    MailboxDirectoryException e = loadFails("{\"version\": 1, \"mailboxes\": {\n"
        + "\"sip:vm.a@x.example\": {\"users\": [\"sip:vm.b@x.example\"]},\n"
        + "\"sip:vm.b@x.example\": {\"users\": [\"sip:bob@x.example\"]}}}");
    assertEquals(2, e.line(), e.getMessage());
    assertEquals(Optional.of("$.mailboxes[\"sip:vm.a@x.example\"].users[0]"), e.field());
    assertTrue(e.problem().contains("mailbox sip:vm.b@x.example is also listed as a user"),
        e.getMessage());
  }

  @Test
  void load_mailboxThatServesItself_isRejected() throws Exception {
    MailboxDirectoryException e = loadFails(oneMailbox(VM_BOB, "SIP:vm.bob@IMS.example.com"));
    assertTrue(e.problem().contains("is also listed as a user"), e.getMessage());
  }

  @Test
  void load_unknownOrMissingFields_areRejected() throws Exception {
    MailboxDirectoryException top = loadFails("{\"version\": 1, \"mailbox\": {}}");
    assertEquals(Optional.of("$.mailbox"), top.field());
    MailboxDirectoryException inner = loadFails("{\"version\": 1, \"mailboxes\": {"
        + "\"sip:vm@x.example\": {\"user\": [\"sip:bob@x.example\"]}}}");
    assertEquals(Optional.of("$.mailboxes[\"sip:vm@x.example\"].user"), inner.field());
    MailboxDirectoryException noUsers = loadFails("{\"version\": 1, \"mailboxes\": {"
        + "\"sip:vm@x.example\": {}}}");
    assertTrue(noUsers.problem().contains("missing field \"users\""), noUsers.getMessage());
    MailboxDirectoryException noMailboxes = loadFails("{\"version\": 1}");
    assertTrue(noMailboxes.problem().contains("missing field \"mailboxes\""));
    MailboxDirectoryException noVersion = loadFails("{\"mailboxes\": {}}");
    assertTrue(noVersion.problem().contains("missing field \"version\""));
  }

  @Test
  void load_otherFormatVersion_isRejected() throws Exception {
    MailboxDirectoryException e = loadFails("{\"version\": 2, \"mailboxes\": {}}");
    assertEquals(Optional.of("$.version"), e.field());
    assertTrue(e.problem().contains("unsupported format version 2"), e.getMessage());
    loadFails("{\"version\": \"1\", \"mailboxes\": {}}");
    loadFails("{\"version\": 1.0, \"mailboxes\": {}}");
  }

  @Test
  void load_wrongValueTypes_areRejected() throws Exception {
    MailboxDirectoryException users = loadFails("{\"version\": 1, \"mailboxes\": {"
        + "\"sip:vm@x.example\": {\"users\": \"sip:bob@x.example\"}}}");
    assertTrue(users.problem().contains("must be an array"), users.getMessage());
    MailboxDirectoryException user = loadFails("{\"version\": 1, \"mailboxes\": {"
        + "\"sip:vm@x.example\": {\"users\": [42]}}}");
    assertEquals(Optional.of("$.mailboxes[\"sip:vm@x.example\"].users[0]"), user.field());
    loadFails("{\"version\": 1, \"mailboxes\": []}");
    loadFails("[]");
  }

  @Test
  void load_invalidJson_isRejectedWithLine() throws Exception {
    MailboxDirectoryException e = loadFails("{\"version\": 1,\n \"mailboxes\": {\n ,}}");
    assertEquals(3, e.line(), e.getMessage());
    assertTrue(e.problem().startsWith("not valid JSON"), e.getMessage());
    loadFails("{\"version\": 1, \"mailboxes\": {}} {}");
    loadFails("");
  }

  @Test
  void load_missingFile_isRejectedNamingTheFile() {
    Path missing = dir.resolve("nope.json");
    MailboxDirectoryException e = assertThrows(MailboxDirectoryException.class,
        () -> MailboxDirectory.load(missing));
    assertEquals(missing, e.file());
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
  }

  // ------------------------------------------------------------------ reloading

  @Test
  void reload_withValidFile_replacesTheDirectory() throws Exception {
    Path f = write("dir.json", GOOD);
    MailboxDirectory d = MailboxDirectory.load(f);
    write("dir.json", oneMailbox(VM_CAROL, "sip:bob@ims.example.com"));
    d.reload();
    assertEquals(Optional.of(VM_CAROL), d.mailboxOf("sip:bob@ims.example.com"));
    assertFalse(d.isMailbox(VM_BOB));
    assertFalse(d.isKnownUser("tel:+4930123456"));
  }

  @Test
  void reload_withInvalidFile_keepsThePreviousDirectoryAndThrows() throws Exception {
    Path f = write("dir.json", GOOD);
    MailboxDirectory d = MailboxDirectory.load(f);
    write("dir.json", oneMailbox(VM_CAROL, "sip:bob@ims.example.com", VM_CAROL));
    MailboxDirectoryException e = assertThrows(MailboxDirectoryException.class, d::reload);
    assertTrue(e.problem().contains("is also listed as a user"), e.getMessage());
    assertEquals(Optional.of(VM_BOB), d.mailboxOf("sip:bob@ims.example.com"));
    assertTrue(d.isMailbox(VM_BOB));
    assertEquals(3, d.userCount());
  }

  @Test
  void reloadIfChanged_reloadsOnlyWhenTheFileChanged() throws Exception {
    Path f = write("dir.json", GOOD);
    MailboxDirectory d = MailboxDirectory.load(f);
    assertFalse(d.reloadIfChanged());
    write("dir.json", oneMailbox(VM_CAROL, "sip:bob@ims.example.com"));
    assertTrue(d.reloadIfChanged());
    assertEquals(Optional.of(VM_CAROL), d.mailboxOf("sip:bob@ims.example.com"));
    assertFalse(d.reloadIfChanged());
  }

  @Test
  void reloadIfChanged_badFile_throwsOnceKeepsOldDirectory_thenRecoversOnNextChange()
      throws Exception {
    Path f = write("dir.json", GOOD);
    MailboxDirectory d = MailboxDirectory.load(f);
    write("dir.json", "{\"version\": 1, \"mailboxes\": {");
    assertThrows(MailboxDirectoryException.class, d::reloadIfChanged);
    assertFalse(d.reloadIfChanged(), "the same bad file is reported once");
    assertEquals(Optional.of(VM_BOB), d.mailboxOf("tel:+4930123456"));
    write("dir.json", oneMailbox(VM_CAROL, "tel:+4930123456"));
    assertTrue(d.reloadIfChanged());
    assertEquals(Optional.of(VM_CAROL), d.mailboxOf("tel:+4930123456"));
  }

  @Test
  void reloadIfChanged_deletedFile_throwsOnceAndKeepsOldDirectory() throws Exception {
    Path f = write("dir.json", GOOD);
    MailboxDirectory d = MailboxDirectory.load(f);
    Files.delete(f);
    MailboxDirectoryException e = assertThrows(MailboxDirectoryException.class,
        d::reloadIfChanged);
    assertTrue(e.problem().contains("disappeared"), e.getMessage());
    assertFalse(d.reloadIfChanged());
    assertTrue(d.isKnownUser("sip:bob@ims.example.com"));
  }

  @Test
  void lookupsDuringReloads_alwaysSeeOneCompleteVersion() throws Exception {
    String a = oneMailbox(VM_BOB, "sip:u1@x.example", "sip:u2@x.example");
    String b = oneMailbox(VM_CAROL, "sip:u1@x.example", "sip:u2@x.example");
    Path f = write("dir.json", a);
    MailboxDirectory d = MailboxDirectory.load(f);
    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<String> problem = new AtomicReference<>();
    Thread reader = new Thread(() -> {
      while (!stop.get() && problem.get() == null) {
        Optional<String> m1 = d.mailboxOf("sip:u1@x.example");
        if (m1.isEmpty() || !(m1.get().equals(VM_BOB) || m1.get().equals(VM_CAROL))) {
          problem.set("u1 mapped to " + m1);
        }
      }
    });
    reader.start();
    try {
      for (int i = 0; i < 100; i++) {
        write("dir.json", i % 2 == 0 ? b : a);
        d.reload();
      }
    } finally {
      stop.set(true);
      reader.join();
    }
    assertEquals(null, problem.get());
  }
}
