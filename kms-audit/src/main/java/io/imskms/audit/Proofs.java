package io.imskms.audit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;

/**
 * Inclusion and consistency proofs as self-contained JSON documents (docs/audit-format.md):
 * produced from a log directory without any key, checked with only the verifier key.
 */
public final class Proofs {
  public static final String INCLUSION = "imskms-audit-inclusion-proof-v1";
  public static final String CONSISTENCY = "imskms-audit-consistency-proof-v1";
  private static final ObjectMapper JSON = new ObjectMapper();

  private Proofs() {}

  /** The records and signed checkpoints of a directory, read once. */
  public static final class LogContents {
    final List<byte[]> lines = new ArrayList<>();
    final List<byte[]> leafHashes = new ArrayList<>();
    final List<String> notes = new ArrayList<>();

    /** Reads a log that starts at record 0 (proofs need every leaf). */
    public static LogContents read(Path dir) throws IOException, ProofException {
      LogContents c = new LogContents();
      List<LogFiles.Segment> segs = LogFiles.segments(dir);
      if (segs.isEmpty() || segs.get(0).first() != 0) {
        throw new ProofException("proofs need the log from record 0 (found "
            + (segs.isEmpty() ? "no segment" : "a log starting at " + segs.get(0).first()) + ")");
      }
      for (LogFiles.Segment s : segs) {
        byte[] all = Files.readAllBytes(s.file());
        int start = 0;
        while (start < all.length) {
          int nl = LogFiles.indexOf(all, (byte) '\n', start);
          if (nl < 0) {
            break;
          }
          byte[] line = Arrays.copyOfRange(all, start, nl);
          c.lines.add(line);
          c.leafHashes.add(Merkle.leafHash(line));
          start = nl + 1;
        }
        for (LogFiles.NoteLine n : LogFiles.readNotes(s.checkpoints())) {
          if (!n.torn() && n.note() != null) {
            c.notes.add(n.note());
          }
        }
      }
      return c;
    }

    public int size() {
      return lines.size();
    }

    /** The index of the first record with this request id. */
    public int indexOfRequest(String requestId) throws ProofException {
      for (int i = 0; i < lines.size(); i++) {
        try {
          if (requestId.equals(AuditRecord.parse(lines.get(i)).event().requestId())) {
            return i;
          }
        } catch (AuditRecord.MalformedRecordException e) {
          throw new ProofException("record " + i + " is malformed: run `kms audit verify`");
        }
      }
      throw new ProofException("no record with request id " + requestId);
    }

    /** The signed checkpoint of exactly {@code size}, or the latest one if size < 0. */
    String note(long size) throws ProofException {
      String found = null;
      for (String n : notes) {
        try {
          long s = Checkpoint.parse(SignedNote.parse(n).text()).size();
          if (size < 0 || s == size) {
            found = n;
          }
        } catch (SignedNote.NoteException e) {
          // skipped; `kms audit verify` reports it
        }
      }
      if (found == null) {
        throw new ProofException(size < 0 ? "the log has no checkpoint"
            : "no checkpoint of size " + size + " in the log");
      }
      return found;
    }

    private Checkpoint checked(String note) throws ProofException {
      try {
        Checkpoint cp = Checkpoint.parse(SignedNote.parse(note).text());
        if (cp.size() > leafHashes.size()
            || !Arrays.equals(Merkle.root(leafHashes.subList(0, (int) cp.size())), cp.root())) {
          throw new ProofException("the records do not match the checkpoint of size " + cp.size()
              + ": run `kms audit verify`");
        }
        return cp;
      } catch (SignedNote.NoteException e) {
        throw new ProofException("malformed checkpoint: " + e.getMessage());
      }
    }
  }

  /** An inclusion proof of record {@code index} against the checkpoint of {@code size} (<0: latest). */
  public static String inclusion(LogContents log, int index, long size) throws ProofException {
    String note = log.note(size);
    Checkpoint cp = log.checked(note);
    if (index < 0 || index >= cp.size()) {
      throw new ProofException("record " + index + " is not covered by the checkpoint of size "
          + cp.size());
    }
    List<byte[]> path = Merkle.inclusionProof(log.leafHashes.subList(0, (int) cp.size()), index);
    ObjectNode o = JSON.createObjectNode();
    o.put("type", INCLUSION);
    o.put("index", index);
    o.put("record", new String(log.lines.get(index), StandardCharsets.UTF_8));
    o.put("checkpoint", note);
    o.set("path", hashes(path));
    return pretty(o);
  }

  /** A consistency proof between the checkpoints of sizes {@code from} and {@code to} (<0: latest). */
  public static String consistency(LogContents log, long from, long to) throws ProofException {
    String oldNote = log.note(from);
    String newNote = log.note(to);
    Checkpoint a = log.checked(oldNote);
    Checkpoint b = log.checked(newNote);
    if (a.size() < 1 || a.size() > b.size()) {
      throw new ProofException("no consistency proof from size " + a.size() + " to " + b.size());
    }
    List<byte[]> path = Merkle.consistencyProof(log.leafHashes.subList(0, (int) b.size()),
        (int) a.size());
    ObjectNode o = JSON.createObjectNode();
    o.put("type", CONSISTENCY);
    o.put("old", oldNote);
    o.put("new", newNote);
    o.set("path", hashes(path));
    return pretty(o);
  }

  /** What a verified proof shows. */
  public record Verified(String type, Checkpoint checkpoint, Checkpoint older, long index,
      AuditRecord record) {}

  /** Checks a proof document with only the verifier key. */
  public static Verified verify(String json, VerifierKey key) throws ProofException {
    JsonNode o;
    try {
      o = JSON.readTree(json);
    } catch (IOException e) {
      throw new ProofException("not a JSON proof document");
    }
    String type = o.path("type").asText("");
    try {
      if (type.equals(INCLUSION)) {
        Checkpoint cp = open(o.path("checkpoint").asText(), key);
        long index = o.path("index").asLong(-1);
        byte[] line = o.path("record").asText().getBytes(StandardCharsets.UTF_8);
        AuditRecord r = AuditRecord.parse(line);
        if (r.seq() != index) {
          throw new ProofException("the record's seq " + r.seq() + " is not the proven index "
              + index);
        }
        if (!Merkle.verifyInclusion(Merkle.leafHash(line), index, cp.size(), path(o), cp.root())) {
          throw new ProofException("the inclusion proof does not verify");
        }
        return new Verified(type, cp, null, index, r);
      }
      if (type.equals(CONSISTENCY)) {
        Checkpoint a = open(o.path("old").asText(), key);
        Checkpoint b = open(o.path("new").asText(), key);
        if (!Merkle.verifyConsistency(a.size(), a.root(), b.size(), b.root(), path(o))) {
          throw new ProofException("the consistency proof does not verify");
        }
        return new Verified(type, b, a, -1, null);
      }
    } catch (AuditRecord.MalformedRecordException e) {
      throw new ProofException("the proven record is malformed: " + e.getMessage());
    }
    throw new ProofException("unknown proof type '" + type + "'");
  }

  private static Checkpoint open(String note, VerifierKey key) throws ProofException {
    try {
      Checkpoint cp = Checkpoint.open(note, key);
      if (!cp.origin().equals(key.name())) {
        throw new ProofException("checkpoint for origin '" + cp.origin() + "', not '" + key.name()
            + "'");
      }
      return cp;
    } catch (SignedNote.NoteException e) {
      throw new ProofException("checkpoint rejected: " + e.getMessage());
    }
  }

  private static List<byte[]> path(JsonNode o) throws ProofException {
    List<byte[]> out = new ArrayList<>();
    for (JsonNode h : o.path("path")) {
      try {
        byte[] b = Base64.getDecoder().decode(h.asText());
        if (b.length != Merkle.HASH_BYTES) {
          throw new ProofException("a proof hash is 32 bytes");
        }
        out.add(b);
      } catch (IllegalArgumentException e) {
        throw new ProofException("a proof hash is not base64");
      }
    }
    return out;
  }

  private static ArrayNode hashes(List<byte[]> path) {
    ArrayNode a = JSON.createArrayNode();
    for (byte[] h : path) {
      a.add(Base64.getEncoder().encodeToString(h));
    }
    return a;
  }

  private static String pretty(ObjectNode o) {
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n";
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A proof that cannot be made or does not verify. */
  public static final class ProofException extends Exception {
    public ProofException(String message) {
      super(message);
    }
  }
}
