package io.imskms.audit;

import static org.junit.jupiter.api.Assertions.*;

import io.imskms.audit.LogVerifier.Kind;
import io.imskms.audit.LogVerifier.Report;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The writer and the offline verifier: durability, every tampering case, fail-closed. */
class AuditLogTest {
  static final String ORIGIN = "imskms.example/audit/test";
  static final TestSigner SIGNER = TestSigner.random(ORIGIN);
  static final VerifierKey KEY = VerifierKey.of(ORIGIN, SIGNER.publicKey());

  @TempDir
  Path dir;

  static AuditEvent event(int i) {
    return AuditEvent.builder("retrieve", i % 3 == 0 ? AuditEvent.Outcome.REFUSED
            : AuditEvent.Outcome.OK).code(i % 3 == 0 ? "NOT_AUTHORISED" : null)
        .requestId("req-" + i).caller("sip:bob@ims.example.com").idA("sip:alice@ims.example.com")
        .idBm("sip:vm.bob@ims.example.com").keyVersions("ticket-root:1,media-root:1")
        .ticketDigest(Merkle.sha256(("ticket " + i).getBytes())).build();
  }

  AuditLogOptions options() {
    return AuditLogOptions.defaults(dir, ORIGIN, "node-1");
  }

  /** Writes n records and closes the log (which signs a final checkpoint). */
  void write(int n) throws Exception {
    try (AuditLog log = AuditLog.open(options(), SIGNER)) {
      List<CompletableFuture<AuditRecord>> fs = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        fs.add(log.append(event(i)));
      }
      long base = fs.get(0).get().seq();
      for (int i = 0; i < n; i++) {
        assertEquals(base + i, fs.get(i).get().seq());
      }
    }
  }

  Path segment() throws IOException {
    return LogFiles.segments(dir).get(0).file();
  }

  List<String> lines() throws IOException {
    return new ArrayList<>(Files.readAllLines(segment(), StandardCharsets.UTF_8));
  }

  void rewrite(List<String> lines) throws IOException {
    Files.writeString(segment(), String.join("\n", lines) + "\n", StandardCharsets.UTF_8);
  }

  Report verify(String... seen) throws IOException {
    return LogVerifier.verify(dir, KEY, List.of(seen));
  }

  static LogVerifier.Finding first(Report r) {
    assertFalse(r.findings().isEmpty(), "expected a finding");
    return r.findings().get(0);
  }

  @Test
  void untouchedLog_verifies_andReopeningContinuesTheTree() throws Exception {
    write(20);
    write(5);
    Report r = verify();
    assertTrue(r.ok(), r.findings().toString());
    assertEquals(25, r.records());
    assertEquals(25, r.latest().size());
    assertTrue(r.findings().isEmpty(), r.findings().toString());
    assertEquals(Files.readString(dir.resolve(LogFiles.LATEST)),
        SignedNote.sign(r.latest().text(), SIGNER));
  }

  @Test
  void canonicalEncoding_roundTrips_andRefusesAnyOtherSpelling() throws Exception {
    AuditRecord r = new AuditRecord(7, "2026-01-02T03:04:05.006Z", "n\"1", AuditEvent.builder(
        "bootstrap", AuditEvent.Outcome.OK).time(java.time.Instant.parse("2026-01-02T03:04:05.006Z"))
        .detail("tab\there \u0001 é").build(), AuditRecord.FIRST_PREV);
    byte[] line = r.encode();
    assertEquals("{\"seq\":7,\"time\":\"2026-01-02T03:04:05.006Z\",\"node\":\"n\\\"1\",\"event\":"
        + "\"bootstrap\",\"outcome\":\"ok\",\"code\":null,\"requestId\":null,\"caller\":null,"
        + "\"idA\":null,\"idB\":null,\"idBm\":null,\"keyVersions\":null,\"ticket\":null,"
        + "\"clientCert\":null,\"detail\":\"tab\\u0009here \\u0001 é\",\"prev\":"
        + "\"00000000000000000000000000000000\"}", new String(line, StandardCharsets.UTF_8));
    assertEquals(r, AuditRecord.parse(line));
    String spaced = new String(line, StandardCharsets.UTF_8).replace(",\"node\"", ", \"node\"");
    assertThrows(AuditRecord.MalformedRecordException.class,
        () -> AuditRecord.parse(spaced.getBytes(StandardCharsets.UTF_8)));
    assertThrows(IllegalArgumentException.class, () -> AuditEvent.builder("retrieve",
        AuditEvent.Outcome.OK).ticketDigest(new byte[5]).build());
  }

  @Test
  void oneByteEdited_isReportedAsEdited_atThatRecord() throws Exception {
    write(10);
    List<String> l = lines();
    l.set(4, l.get(4).replace("sip:bob@", "sip:bub@"));
    rewrite(l);
    Report r = verify();
    assertFalse(r.ok());
    assertEquals(Kind.EDITED, first(r).kind());
    assertEquals(4, first(r).index());
  }

  @Test
  void lastRecordEdited_isCaughtByTheCheckpoint() throws Exception {
    write(10);
    List<String> l = lines();
    l.set(9, l.get(9).replace("req-9", "req-X"));
    rewrite(l);
    Report r = verify();
    assertFalse(r.ok());
    assertEquals(Kind.EDITED, first(r).kind());
  }

  @Test
  void insertedRecord_isReportedAsInserted() throws Exception {
    write(10);
    List<String> l = lines();
    l.add(6, l.get(5));
    rewrite(l);
    Report r = verify();
    assertEquals(Kind.INSERTED, first(r).kind());
    assertEquals(6, first(r).index());
  }

  @Test
  void deletedRecord_isReportedAsDeleted() throws Exception {
    write(10);
    List<String> l = lines();
    l.remove(3);
    rewrite(l);
    Report r = verify();
    assertEquals(Kind.DELETED, first(r).kind());
    assertEquals(3, first(r).index());
  }

  @Test
  void swappedRecords_areReportedAsReordered() throws Exception {
    write(10);
    List<String> l = lines();
    String a = l.get(2);
    l.set(2, l.get(3));
    l.set(3, a);
    rewrite(l);
    Report r = verify();
    assertEquals(Kind.REORDERED, first(r).kind());
    assertEquals(2, first(r).index());
  }

  @Test
  void truncatedTail_isReportedAsTruncated() throws Exception {
    write(10);
    List<String> l = lines();
    rewrite(l.subList(0, 7));
    Report r = verify();
    assertFalse(r.ok());
    assertEquals(Kind.TRUNCATED, first(r).kind());
    assertEquals(7, first(r).index());
  }

  @Test
  void tornLastLineAfterTheCheckpoint_isACrash_andTheWriterRepairsAndRecordsIt() throws Exception {
    write(10);
    Files.write(segment(), "{\"seq\":10,\"time\":\"20".getBytes(StandardCharsets.UTF_8),
        java.nio.file.StandardOpenOption.APPEND);
    Report r = verify();
    assertTrue(r.ok(), r.findings().toString());
    assertEquals(Kind.TORN_LINE_CRASH, first(r).kind());
    assertEquals(10, first(r).index());

    write(1); // reopening cuts the torn line and records the repair
    List<String> l = lines();
    assertTrue(l.get(10).contains("\"event\":\"audit.repair\""), l.get(10));
    assertTrue(l.get(10).contains("torn last line"), l.get(10));
    Report after = verify();
    assertTrue(after.ok() && after.findings().isEmpty(), after.findings().toString());
  }

  @Test
  void recordsAfterTheLastCheckpoint_areNotYetCovered() throws Exception {
    write(10);
    List<String> l = lines();
    // What a crash between fsync and the next checkpoint leaves: valid records, no checkpoint.
    Path cps = LogFiles.segments(dir).get(0).checkpoints();
    List<String> notes = Files.readAllLines(cps);
    write(3);
    Files.write(cps, (String.join("\n", notes) + "\n").getBytes(StandardCharsets.US_ASCII));
    Files.writeString(dir.resolve(LogFiles.LATEST), "");
    Report r = verify();
    assertTrue(r.ok(), r.findings().toString());
    assertEquals(Kind.NOT_YET_COVERED, first(r).kind());
    assertEquals(10, first(r).index());
    assertEquals(13, r.records());
    assertEquals(10, l.size());
  }

  @Test
  void forgedCheckpointSignature_isReported() throws Exception {
    write(10);
    Path cps = LogFiles.segments(dir).get(0).checkpoints();
    String note = Files.readString(dir.resolve(LogFiles.LATEST));
    String forged = note.replaceFirst("\n10\n", "\n11\n");
    Files.write(cps, LogFiles.noteLine(forged).getBytes(StandardCharsets.US_ASCII),
        java.nio.file.StandardOpenOption.APPEND);
    Report r = verify();
    assertFalse(r.ok());
    assertTrue(r.findings().stream().anyMatch(f -> f.kind() == Kind.FORGED_SIGNATURE),
        r.findings().toString());
  }

  @Test
  void checkpointFromAnotherOrigin_isReported() throws Exception {
    write(10);
    Report good = verify();
    TestSigner sameKeyOtherName = SIGNER;
    String other = SignedNote.sign(new Checkpoint("imskms.example/audit/other", 10,
        good.latest().root()).text(), sameKeyOtherName);
    Path cps = LogFiles.segments(dir).get(0).checkpoints();
    Files.write(cps, LogFiles.noteLine(other).getBytes(StandardCharsets.US_ASCII),
        java.nio.file.StandardOpenOption.APPEND);
    Report r = verify();
    assertFalse(r.ok());
    assertTrue(r.findings().stream().anyMatch(f -> f.kind() == Kind.WRONG_ORIGIN),
        r.findings().toString());
  }

  @Test
  void rolledBackLog_withAnOlderConsistentPrefix_isReportedAfterANewerCheckpointWasSeen()
      throws Exception {
    write(10);
    Path seg = segment();
    Path cps = LogFiles.segments(dir).get(0).checkpoints();
    byte[] oldSeg = Files.readAllBytes(seg);
    byte[] oldCps = Files.readAllBytes(cps);
    write(10);
    String seen = Files.readString(dir.resolve(LogFiles.LATEST)); // a witness kept this
    Files.write(seg, oldSeg);
    Files.write(cps, oldCps);
    assertTrue(verify().ok(), "without the witness's checkpoint the prefix looks fine");
    Report r = verify(seen);
    assertFalse(r.ok());
    assertEquals(Kind.ROLLBACK, r.findings().stream().filter(f -> f.kind().tampering())
        .findFirst().orElseThrow().kind());
  }

  @Test
  void rotationAndRetention_keepTheTreeVerifiable() throws Exception {
    AuditLogOptions o = options().withSegments(4096, Duration.ofHours(1), Duration.ofNanos(1));
    try (AuditLog log = AuditLog.open(o, SIGNER)) {
      for (int round = 0; round < 6; round++) {
        List<CompletableFuture<AuditRecord>> fs = new ArrayList<>();
        for (int i = 0; i < 15; i++) {
          fs.add(log.append(event(i)));
        }
        for (CompletableFuture<AuditRecord> f : fs) {
          f.get();
        }
      }
    }
    List<LogFiles.Segment> segs = LogFiles.segments(dir);
    assertTrue(segs.get(0).first() > 0, "retention deleted the oldest segments");
    Report r = LogVerifier.verify(dir, KEY, List.of());
    assertTrue(r.ok() && r.findings().isEmpty(), r.findings().toString());
    assertTrue(Files.readString(segs.get(segs.size() - 1).file()).contains("audit.retention")
        || Files.readAllLines(segs.get(segs.size() - 2).file()).stream()
            .anyMatch(x -> x.contains("audit.retention")), "retention is itself recorded");
    try (AuditLog again = AuditLog.open(o, SIGNER)) {
      assertTrue(again.size() > 90);
    }
  }

  @Test
  void unwritableDirectory_refusesToStart() throws Exception {
    Path file = dir.resolve("not-a-dir");
    Files.writeString(file, "x");
    AuditStartException e = assertThrows(AuditStartException.class,
        () -> AuditLog.open(AuditLogOptions.defaults(file.resolve("audit"), ORIGIN, "n"), SIGNER));
    assertTrue(e.getMessage().contains("not writable"), e.getMessage());
  }

  @Test
  void alteredLogOnDisk_refusesToStart() throws Exception {
    write(10);
    List<String> l = lines();
    l.set(2, l.get(2).replace("req-2", "req-Z"));
    rewrite(l);
    assertThrows(AuditStartException.class, () -> AuditLog.open(options(), SIGNER));
  }

  @Test
  void fullDisk_failsTheRecords_goesUnhealthy_andResumesByItself() throws Exception {
    FaultyDisk disk = new FaultyDisk();
    try (AuditLog log = disk.open(options(), SIGNER)) {
      log.append(event(0)).get();
      disk.failing(true);
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> log.append(event(1)).get());
      assertInstanceOf(AuditUnavailableException.class, e.getCause());
      assertFalse(log.healthy());
      assertThrows(ExecutionException.class, () -> log.append(event(2)).get());
      disk.failing(false);
      AuditRecord r = log.append(event(3)).get();
      assertTrue(log.healthy());
      assertEquals("req-3", r.event().requestId());
    }
    List<String> l = lines();
    assertEquals(3, l.size(), "refused records are not in the log: " + l);
    assertTrue(l.get(1).contains("\"event\":\"audit.fault\"") && l.get(1).contains("2 records refused"),
        l.get(1));
    assertTrue(verify().ok(), verify().findings().toString());
  }
}
