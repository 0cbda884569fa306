package io.imskms.audit;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 under load: a child JVM appends from 16 threads and prints every acknowledged record;
 * the test SIGKILLs it mid-stream, reopens the log (which repairs a torn tail and records that),
 * verifies it offline and finds every acknowledged record.
 */
class CrashTest {
  static final String ORIGIN = "imskms.example/audit/crash";

  @TempDir
  Path dir;

  @Test
  void sigkillUnderLoad_losesNoAcknowledgedRecord() throws Exception {
    byte[] seed = new byte[32];
    new java.security.SecureRandom().nextBytes(seed);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        CrashChild.class.getName(), dir.toString(), HexFormat.of().formatHex(seed))
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    Set<String> acked = new HashSet<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
        StandardCharsets.UTF_8))) {
      String line;
      while (acked.size() < 5_000 && (line = r.readLine()) != null) {
        if (line.startsWith("ACK ")) {
          acked.add(line.substring(4));
        }
      }
      p.destroyForcibly(); // SIGKILL on Linux
      assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    }
    assertTrue(acked.size() >= 5_000, "the child acknowledged only " + acked.size());

    TestSigner signer = new TestSigner(ORIGIN, seed);
    try (AuditLog log = AuditLog.open(AuditLogOptions.defaults(dir, ORIGIN, "crash-node"), signer)) {
      assertTrue(log.size() >= acked.size());
    }
    LogVerifier.Report report = LogVerifier.verify(dir, VerifierKey.of(ORIGIN, signer.publicKey()),
        List.of());
    assertTrue(report.ok() && report.findings().isEmpty(), report.findings().toString());
    Set<String> found = new HashSet<>();
    for (LogFiles.Segment s : LogFiles.segments(dir)) {
      for (String line : Files.readAllLines(s.file())) {
        String id = AuditRecord.parse(line.getBytes(StandardCharsets.UTF_8)).event().requestId();
        if (id != null) {
          found.add(id);
        }
      }
    }
    Set<String> missing = new HashSet<>(acked);
    missing.removeAll(found);
    assertTrue(missing.isEmpty(), missing.size() + " acknowledged records missing");
    assertTrue(LogFiles.segments(dir).size() > 1, "the load crossed segment rotations");
  }
}
