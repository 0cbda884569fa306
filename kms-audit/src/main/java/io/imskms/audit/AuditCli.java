package io.imskms.audit;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The offline audit commands (no HSM, no server; only the verifier key):
 *
 * <pre>
 * audit verify --key VKEY [--key VKEY...] [--checkpoint FILE...] DIR...
 * audit prove --dir DIR (--index N | --request-id ID) [--size S] [--out FILE]
 * audit prove --dir DIR --from S1 [--to S2] [--out FILE]
 * audit verify-proof --key VKEY FILE
 * </pre>
 *
 * Exit codes: 0 verified (a crash-torn last line or records not yet covered are reported but are
 * not failures), 1 tampering found or the proof does not verify, 2 a directory or file is
 * missing, 64 usage error. kms-cli exposes these as {@code kms audit ...}.
 */
public final class AuditCli {
  private AuditCli() {}

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  public static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length == 0) {
      err.println("usage: audit verify|prove|verify-proof ... (docs/audit-format.md)");
      return 64;
    }
    try {
      String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
      return switch (args[0]) {
        case "verify" -> verify(rest, out, err);
        case "prove" -> prove(rest, out, err);
        case "verify-proof" -> verifyProof(rest, out, err);
        default -> usage(err, "unknown command " + args[0]);
      };
    } catch (IllegalArgumentException e) {
      return usage(err, e.getMessage());
    } catch (IOException e) {
      err.println("error: " + e.getMessage());
      return 2;
    }
  }

  private static int usage(PrintStream err, String msg) {
    err.println("usage error: " + msg);
    return 64;
  }

  private static String value(String[] a, int i) {
    if (i + 1 >= a.length) {
      throw new IllegalArgumentException(a[i] + " needs a value");
    }
    return a[i + 1];
  }

  static int verify(String[] a, PrintStream out, PrintStream err) throws IOException {
    List<VerifierKey> keys = new ArrayList<>();
    List<String> seen = new ArrayList<>();
    List<Path> dirs = new ArrayList<>();
    for (int i = 0; i < a.length; i++) {
      switch (a[i]) {
        case "--key" -> keys.add(VerifierKey.parse(value(a, i++)));
        case "--checkpoint" -> seen.add(Files.readString(Path.of(value(a, i++))));
        default -> dirs.add(Path.of(a[i]));
      }
    }
    if (keys.isEmpty() || dirs.isEmpty()) {
      throw new IllegalArgumentException("verify --key VKEY [--checkpoint FILE] DIR...");
    }
    boolean allOk = true;
    for (Path dir : dirs) {
      if (!Files.isDirectory(dir)) {
        err.println(dir + ": no such directory");
        return 2;
      }
      VerifierKey key = keyFor(dir, keys);
      LogVerifier.Report r = LogVerifier.verify(dir, key, seen);
      out.println(dir + " (origin " + r.origin() + "): " + (r.ok() ? "VERIFIED" : "FAILED") + ", "
          + r.records() + " records, " + r.checkpoints() + " checkpoints"
          + (r.latest() == null ? "" : ", latest covers " + r.latest().size()));
      for (LogVerifier.Finding f : r.findings()) {
        out.println("  " + (f.kind().tampering() ? "TAMPERING " : "NOTE ") + f);
      }
      allOk &= r.ok();
    }
    return allOk ? 0 : 1;
  }

  /** The key whose name signs this directory's checkpoints (one key per node). */
  private static VerifierKey keyFor(Path dir, List<VerifierKey> keys) throws IOException {
    if (keys.size() == 1) {
      return keys.get(0);
    }
    for (LogFiles.Segment s : LogFiles.segments(dir)) {
      for (LogFiles.NoteLine n : LogFiles.readNotes(s.checkpoints())) {
        if (n.note() == null) {
          continue;
        }
        try {
          for (SignedNote.Sig sig : SignedNote.parse(n.note()).signatures()) {
            for (VerifierKey k : keys) {
              if (k.name().equals(sig.name())
                  && java.util.Arrays.equals(k.keyHash(), sig.keyHash())) {
                return k;
              }
            }
          }
        } catch (SignedNote.NoteException e) {
          // try the next line
        }
      }
    }
    return keys.get(0); // the verifier then reports UNKNOWN_KEY for every checkpoint
  }

  static int prove(String[] a, PrintStream out, PrintStream err) throws IOException {
    Path dir = null;
    Integer index = null;
    String requestId = null;
    long size = -1;
    Long from = null;
    long to = -1;
    Path outFile = null;
    for (int i = 0; i < a.length; i++) {
      switch (a[i]) {
        case "--dir" -> dir = Path.of(value(a, i++));
        case "--index" -> index = Integer.parseInt(value(a, i++));
        case "--request-id" -> requestId = value(a, i++);
        case "--size" -> size = Long.parseLong(value(a, i++));
        case "--from" -> from = Long.parseLong(value(a, i++));
        case "--to" -> to = Long.parseLong(value(a, i++));
        case "--out" -> outFile = Path.of(value(a, i++));
        default -> throw new IllegalArgumentException("unknown option " + a[i]);
      }
    }
    if (dir == null || (from == null && index == null && requestId == null)) {
      throw new IllegalArgumentException("prove --dir DIR (--index N | --request-id ID | --from S1)");
    }
    if (!Files.isDirectory(dir)) {
      err.println(dir + ": no such directory");
      return 2;
    }
    try {
      Proofs.LogContents log = Proofs.LogContents.read(dir);
      String proof;
      if (from != null) {
        proof = Proofs.consistency(log, from, to);
      } else {
        int idx = index != null ? index : log.indexOfRequest(requestId);
        proof = Proofs.inclusion(log, idx, size);
      }
      if (outFile == null) {
        out.print(proof);
      } else {
        Files.writeString(outFile, proof, StandardCharsets.UTF_8);
        out.println("wrote " + outFile);
      }
      return 0;
    } catch (Proofs.ProofException e) {
      err.println("cannot prove: " + e.getMessage());
      return 1;
    }
  }

  static int verifyProof(String[] a, PrintStream out, PrintStream err) throws IOException {
    VerifierKey key = null;
    Path file = null;
    for (int i = 0; i < a.length; i++) {
      if (a[i].equals("--key")) {
        key = VerifierKey.parse(value(a, i++));
      } else {
        file = Path.of(a[i]);
      }
    }
    if (key == null || file == null) {
      throw new IllegalArgumentException("verify-proof --key VKEY FILE");
    }
    if (!Files.isRegularFile(file)) {
      err.println(file + ": no such file");
      return 2;
    }
    try {
      Proofs.Verified v = Proofs.verify(Files.readString(file), key);
      if (v.record() != null) {
        out.println("VERIFIED: record " + v.index() + " is in the log of " + v.checkpoint().origin()
            + " at tree size " + v.checkpoint().size());
        out.println(new String(v.record().encode(), StandardCharsets.UTF_8));
      } else {
        out.println("VERIFIED: the log of " + v.checkpoint().origin() + " at size "
            + v.checkpoint().size() + " extends its state at size " + v.older().size());
      }
      return 0;
    } catch (Proofs.ProofException e) {
      out.println("NOT VERIFIED: " + e.getMessage());
      return 1;
    }
  }
}
