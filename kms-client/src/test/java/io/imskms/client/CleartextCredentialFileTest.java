package io.imskms.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.protocol.Role;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CleartextCredentialFileTest {
  private static Credential credential() {
    byte[] kp = new byte[32];
    kp[0] = 7;
    return new Credential(Role.MAILBOX, "sip:vm.bob@ims.example.com", 3,
        SecretBytes.copyOf(kp, InsecureSecretAccess.get()));
  }

  @Test
  void written_isOwnerOnly_andReadsBackTheSameCredential(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("vm.cred");
    Credential c = credential();
    CleartextCredentialFile.write(c, f, false);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    Credential back = CleartextCredentialFile.read(f);
    assertEquals(Role.MAILBOX, back.role());
    assertEquals(c.id(), back.id());
    assertEquals(3, back.credVersion());
    assertTrue(back.kp().equalContents(c.kp()));
  }

  @Test
  void generation_isWrittenOnlyWhenNotZero_andReadsBack(@TempDir Path dir) throws Exception {
    Path f0 = dir.resolve("g0.cred");
    CleartextCredentialFile.write(credential(), f0, false);
    assertFalse(Files.readString(f0).contains("generation"));
    assertEquals(0, CleartextCredentialFile.read(f0).generation());
    byte[] kp = new byte[32];
    Credential g2 = new Credential(Role.UE, "sip:alice@ims.example.com", 1, 2,
        SecretBytes.copyOf(kp, InsecureSecretAccess.get()));
    Path f2 = dir.resolve("g2.cred");
    CleartextCredentialFile.write(g2, f2, false);
    assertTrue(Files.readString(f2).contains("\ngeneration=2\nkp="));
    assertEquals(2, CleartextCredentialFile.read(f2).generation());
    Files.writeString(f2, Files.readString(f2).replace("generation=2", "generation=0"));
    assertThrows(IOException.class, () -> CleartextCredentialFile.read(f2));
  }

  @Test
  void existingFile_isNotReplacedUnlessAsked(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("vm.cred");
    CleartextCredentialFile.write(credential(), f, false);
    assertThrows(FileAlreadyExistsException.class,
        () -> CleartextCredentialFile.write(credential(), f, false));
    CleartextCredentialFile.write(credential(), f, true);
  }

  @Test
  void groupReadableFile_isRefused(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("vm.cred");
    CleartextCredentialFile.write(credential(), f, false);
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r-----"));
    assertThrows(IOException.class, () -> CleartextCredentialFile.read(f));
  }

  @Test
  void malformedFile_isRefused_withoutEchoingKp(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("bad.cred");
    String kp = Base64.getUrlEncoder().withoutPadding().encodeToString(new byte[31]);
    Files.writeString(f, "imskms-credential=1\nrole=ue\nid=sip:a@b\ncredVersion=1\nkp=" + kp
        + "\n");
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
    IOException e = assertThrows(IOException.class, () -> CleartextCredentialFile.read(f));
    assertFalse(e.getMessage().contains(kp));
  }
}
