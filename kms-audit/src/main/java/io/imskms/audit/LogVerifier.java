package io.imskms.audit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The offline verifier: with only the verifier key, checks every checkpoint's signature and
 * origin, recomputes the Merkle tree from the records, checks that every checkpoint's root is the
 * root of the records up to its size (so each checkpoint is consistent with every earlier one),
 * and names the first bad record and what happened to it. Optionally compares against checkpoints
 * seen earlier (a witness's or an auditor's copy) to catch a rolled-back or forked log.
 */
public final class LogVerifier {

  /** What the verifier found. Only {@link #tampering()} kinds make a log fail. */
  public enum Kind {
    EDITED, INSERTED, DELETED, REORDERED, TRUNCATED, MALFORMED, CHECKPOINT_MISMATCH,
    FORGED_SIGNATURE, UNKNOWN_KEY, WRONG_ORIGIN, ROLLBACK, FORK,
    /** A last line cut short by a crash, after the last checkpoint: not tampering. */
    TORN_LINE_CRASH,
    /** Records after the last checkpoint: not yet covered by a signature. */
    NOT_YET_COVERED;

    public boolean tampering() {
      return this != TORN_LINE_CRASH && this != NOT_YET_COVERED;
    }
  }

  /** One finding; {@code index} is the leaf index it concerns (-1 for none). */
  public record Finding(Kind kind, long index, String where, String detail) {
    @Override
    public String toString() {
      return kind + (index >= 0 ? " at record " + index : "") + (where == null ? "" : " (" + where
          + ")") + ": " + detail;
    }
  }

  /** The result for one directory. */
  public record Report(Path dir, String origin, long records, int checkpoints,
      Checkpoint latest, List<Finding> findings) {
    public boolean ok() {
      return findings.stream().noneMatch(f -> f.kind().tampering());
    }
  }

  private LogVerifier() {}

  /**
   * Verifies one log directory.
   *
   * @param key the node's verifier key; its name is the expected origin
   * @param seen checkpoints (signed notes) seen before, e.g. fetched from
   *     {@code GET /v1/audit/checkpoint} by a witness; the log must extend each of them
   */
  public static Report verify(Path dir, VerifierKey key, List<String> seen) throws IOException {
    String origin = key.name();
    List<Finding> findings = new ArrayList<>();
    List<LogFiles.Segment> segs = LogFiles.segments(dir);
    if (segs.isEmpty()) {
      findings.add(new Finding(Kind.TRUNCATED, -1, dir.toString(), "no segment files"));
      return new Report(dir, origin, 0, 0, null, findings);
    }

    // 1. Checkpoints: signature, origin, order.
    List<Checkpoint> cps = new ArrayList<>();
    List<String> cpWhere = new ArrayList<>();
    for (int s = 0; s < segs.size(); s++) {
      for (LogFiles.NoteLine n : LogFiles.readNotes(segs.get(s).checkpoints())) {
        String where = n.file().getFileName() + ":" + n.line();
        if (n.torn() && s == segs.size() - 1) {
          continue; // an interrupted checkpoint write; the writer cuts it on restart
        }
        if (n.note() == null) {
          findings.add(new Finding(Kind.MALFORMED, -1, where, "checkpoint line is not base64"));
          continue;
        }
        Checkpoint cp;
        try {
          cp = Checkpoint.open(n.note(), key);
        } catch (SignedNote.NoteException e) {
          Kind k = switch (e.kind()) {
            case FORGED -> Kind.FORGED_SIGNATURE;
            case UNKNOWN_KEY -> Kind.UNKNOWN_KEY;
            default -> Kind.MALFORMED;
          };
          findings.add(new Finding(k, -1, where, "checkpoint rejected: " + e.getMessage()));
          continue;
        }
        if (!cp.origin().equals(origin)) {
          findings.add(new Finding(Kind.WRONG_ORIGIN, -1, where, "checkpoint for origin '"
              + cp.origin() + "', expected '" + origin + "'"));
          continue;
        }
        if (!cps.isEmpty()) {
          Checkpoint before = cps.get(cps.size() - 1);
          if (cp.size() < before.size()) {
            findings.add(new Finding(Kind.ROLLBACK, -1, where, "checkpoint of size " + cp.size()
                + " follows one of size " + before.size()));
            continue;
          }
          if (cp.size() == before.size() && !Arrays.equals(cp.root(), before.root())) {
            findings.add(new Finding(Kind.FORK, -1, where, "two signed checkpoints of size "
                + cp.size() + " with different roots"));
            continue;
          }
        }
        cps.add(cp);
        cpWhere.add(where);
      }
    }
    List<Checkpoint> trusted = new ArrayList<>();
    for (String note : seen) {
      try {
        Checkpoint cp = Checkpoint.open(note, key);
        if (!cp.origin().equals(origin)) {
          findings.add(new Finding(Kind.WRONG_ORIGIN, -1, "given checkpoint",
              "for origin '" + cp.origin() + "'"));
        } else {
          trusted.add(cp);
        }
      } catch (SignedNote.NoteException e) {
        findings.add(new Finding(e.kind() == SignedNote.NoteException.Kind.FORGED
            ? Kind.FORGED_SIGNATURE : Kind.MALFORMED, -1, "given checkpoint", e.getMessage()));
      }
    }
    Map<Long, byte[]> wanted = new HashMap<>();
    for (Checkpoint c : cps) {
      wanted.put(c.size(), null);
    }
    for (Checkpoint c : trusted) {
      wanted.put(c.size(), null);
    }

    // 2. Records.
    LogFiles.Segment firstSeg = segs.get(0);
    Merkle.Frontier f;
    try {
      f = firstSeg.first() == 0 ? new Merkle.Frontier() : LogFiles.readFrontier(firstSeg.frontier());
    } catch (IOException e) {
      findings.add(new Finding(Kind.DELETED, 0, firstSeg.file().getFileName().toString(),
          "the log starts at record " + firstSeg.first() + " without a readable frontier file"));
      return new Report(dir, origin, 0, cps.size(), last(cps), findings);
    }
    if (f.size() != firstSeg.first()) {
      findings.add(new Finding(Kind.MALFORMED, firstSeg.first(), "frontier",
          "frontier size does not match the first segment"));
      return new Report(dir, origin, 0, cps.size(), last(cps), findings);
    }
    if (wanted.containsKey(f.size())) {
      wanted.put(f.size(), f.root());
    }
    Finding firstBad = null;
    long tornAt = -1;
    String tornWhere = null;
    String prevLink = null; // unknown before the first retained record
    String prevPrevLink = null;
    if (f.size() == 0) {
      prevLink = AuditRecord.FIRST_PREV;
    }
    outer:
    for (int s = 0; s < segs.size(); s++) {
      LogFiles.Segment seg = segs.get(s);
      if (seg.first() != f.size()) {
        firstBad = new Finding(seg.first() > f.size() ? Kind.DELETED : Kind.INSERTED, f.size(),
            seg.file().getFileName().toString(), "segment starts at record " + seg.first()
            + " but " + f.size() + " records precede it");
        break;
      }
      byte[] all = Files.readAllBytes(seg.file());
      int start = 0;
      int lineNo = 0;
      while (start < all.length) {
        lineNo++;
        int nl = LogFiles.indexOf(all, (byte) '\n', start);
        String where = seg.file().getFileName() + ":" + lineNo;
        long i = f.size();
        if (nl < 0) {
          if (s == segs.size() - 1) {
            tornAt = i;
            tornWhere = where;
          } else {
            firstBad = new Finding(Kind.TRUNCATED, i, where, "partial line inside the log");
          }
          break outer;
        }
        byte[] line = Arrays.copyOfRange(all, start, nl);
        AuditRecord r;
        try {
          r = AuditRecord.parse(line);
        } catch (AuditRecord.MalformedRecordException e) {
          firstBad = new Finding(Kind.EDITED, i, where, "not a canonical record: " + e.getMessage());
          break outer;
        }
        if (r.seq() != i) {
          boolean duplicate = AuditRecord.link(Merkle.leafHash(line)).equals(prevLink);
          firstBad = duplicate ? new Finding(Kind.INSERTED, i, where, "a copy of record " + r.seq()
              + " was inserted") : classifySeq(r, i, all, nl + 1, where, prevPrevLink);
          break outer;
        }
        if (prevLink != null && !prevLink.equals(r.prev())) {
          firstBad = new Finding(Kind.EDITED, i - 1, where, "record " + (i - 1)
              + " was changed: record " + i + " links to a different predecessor");
          break outer;
        }
        byte[] lh = Merkle.leafHash(line);
        f.append(lh);
        prevPrevLink = prevLink;
        prevLink = AuditRecord.link(lh);
        if (wanted.containsKey(f.size())) {
          wanted.put(f.size(), f.root());
        }
        start = nl + 1;
      }
    }
    long n = f.size();

    // 3. Checkpoints against the recomputed tree.
    long coveredBefore = firstSeg.first();
    for (int c = 0; c < cps.size(); c++) {
      Checkpoint cp = cps.get(c);
      byte[] root = wanted.get(cp.size());
      if (cp.size() < firstSeg.first()) {
        continue; // its records were deleted by retention
      }
      if (root == null) {
        if (firstBad == null) {
          firstBad = new Finding(Kind.TRUNCATED, n, tornWhere, "checkpoint " + cpWhere.get(c)
              + " covers " + cp.size() + " records but the log holds only " + n
              + (tornAt >= 0 ? " and a torn line" : ""));
        }
        break;
      }
      if (!Arrays.equals(root, cp.root())) {
        if (firstBad == null) {
          firstBad = new Finding(Kind.EDITED, coveredBefore, cpWhere.get(c), "records "
              + coveredBefore + ".." + (cp.size() - 1) + " do not match the signed checkpoint of size "
              + cp.size() + " (a record in this range was changed and its links rewritten)");
        }
        break;
      }
      coveredBefore = cp.size();
    }
    if (firstBad != null) {
      findings.add(0, firstBad);
    }
    for (Checkpoint t : trusted) {
      Checkpoint latest = last(cps);
      if (latest == null || t.size() > latest.size()) {
        findings.add(new Finding(Kind.ROLLBACK, t.size(), "given checkpoint", "a checkpoint of size "
            + t.size() + " was seen, but the log's latest checkpoint is of size "
            + (latest == null ? "none" : latest.size()) + ": the log was rolled back"));
      } else if (wanted.get(t.size()) != null && !Arrays.equals(wanted.get(t.size()), t.root())) {
        findings.add(new Finding(Kind.FORK, t.size(), "given checkpoint", "the log's tree of size "
            + t.size() + " differs from the checkpoint seen before"));
      }
    }
    Checkpoint latest = last(cps);
    long covered = latest == null ? 0 : latest.size();
    if (firstBad == null && tornAt >= 0) {
      findings.add(new Finding(Kind.TORN_LINE_CRASH, tornAt, tornWhere,
          "the last line is incomplete: a write interrupted by a crash (never acknowledged)"));
    }
    if (firstBad == null && n > covered) {
      findings.add(new Finding(Kind.NOT_YET_COVERED, covered, null, (n - covered)
          + " records after the latest checkpoint are not yet covered by a signature"));
    }
    return new Report(dir, origin, n, cps.size(), latest, findings);
  }

  /** Names what happened when record position i holds a record with another sequence number. */
  private static Finding classifySeq(AuditRecord r, long i, byte[] all, int nextStart,
      String where, String prevPrevLink) {
    long s = r.seq();
    long nextSeq = -1;
    int nl = LogFiles.indexOf(all, (byte) '\n', nextStart);
    if (nl > nextStart) {
      nextSeq = AuditRecord.quickSeq(all, nextStart, nl - nextStart);
    }
    if (s > i) {
      if (nextSeq == i) {
        return new Finding(Kind.REORDERED, i, where, "record " + s + " stands before record " + i);
      }
      return new Finding(Kind.DELETED, i, where, "records " + i + ".." + (s - 1) + " are missing");
    }
    if (s == i - 1 && prevPrevLink != null && prevPrevLink.equals(r.prev())) {
      return new Finding(Kind.INSERTED, i - 1, where, "the record at position " + (i - 1)
          + " was inserted: the next record is the real record " + s);
    }
    return new Finding(Kind.INSERTED, i, where, "a record numbered " + s + " appears again at"
        + " position " + i);
  }

  private static Checkpoint last(List<Checkpoint> cps) {
    return cps.isEmpty() ? null : cps.get(cps.size() - 1);
  }
}
