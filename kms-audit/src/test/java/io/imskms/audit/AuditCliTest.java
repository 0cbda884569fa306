package io.imskms.audit;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The offline commands: verify, prove (inclusion by request id, consistency), verify-proof. */
class AuditCliTest {
  @TempDir
  Path dir;

  private String out;

  private int run(String... args) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    int rc = AuditCli.run(args, new PrintStream(o, true, StandardCharsets.UTF_8),
        new PrintStream(o, true, StandardCharsets.UTF_8));
    out = o.toString(StandardCharsets.UTF_8);
    return rc;
  }

  @Test
  void verifyProveAndVerifyProof_workOfflineWithOnlyTheVerifierKey() throws Exception {
    AuditLogTest t = new AuditLogTest();
    t.dir = dir;
    t.write(12);
    t.write(9); // a second checkpoint, at 21
    String vkey = AuditLogTest.KEY.encode();

    assertEquals(0, run("verify", "--key", vkey, dir.toString()), out);
    assertTrue(out.contains("VERIFIED, 21 records"), out);

    Path proof = dir.resolveSibling(dir.getFileName() + "-incl.json");
    assertEquals(0, run("prove", "--dir", dir.toString(), "--request-id", "req-7", "--out",
        proof.toString()), out);
    assertEquals(0, run("verify-proof", "--key", vkey, proof.toString()), out);
    assertTrue(out.contains("record 7 is in the log") && out.contains("\"requestId\":\"req-7\""),
        out);
    Files.writeString(proof, Files.readString(proof).replace("req-7", "req-8"));
    assertEquals(1, run("verify-proof", "--key", vkey, proof.toString()), out);

    Path cons = dir.resolveSibling(dir.getFileName() + "-cons.json");
    assertEquals(0, run("prove", "--dir", dir.toString(), "--from", "12", "--out",
        cons.toString()), out);
    assertEquals(0, run("verify-proof", "--key", vkey, cons.toString()), out);
    assertTrue(out.contains("at size 21 extends its state at size 12"), out);

    String otherKey = VerifierKey.of(AuditLogTest.ORIGIN,
        TestSigner.random(AuditLogTest.ORIGIN).publicKey()).encode();
    assertEquals(1, run("verify-proof", "--key", otherKey, cons.toString()), out);
    assertEquals(1, run("verify", "--key", otherKey, dir.toString()), out);
    assertTrue(out.contains("UNKNOWN_KEY"), out);
    assertEquals(64, run("verify", dir.toString()), out);
    assertEquals(2, run("verify", "--key", vkey, dir.resolve("missing").toString()), out);
  }
}
