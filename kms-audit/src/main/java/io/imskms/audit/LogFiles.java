package io.imskms.audit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The files of a log directory (docs/audit-format.md): segments {@code seg-<first>.jsonl} (first
 * = index of their first record, 20 digits), their checkpoints {@code seg-<first>.checkpoints}
 * (one base64-encoded signed note per line), the frontier of the tree before them
 * {@code seg-<first>.frontier} (only needed once older segments were deleted by retention), and
 * {@code checkpoint.latest} (the latest signed note as text).
 */
public final class LogFiles {
  private static final Pattern SEGMENT = Pattern.compile("seg-([0-9]{20})\\.jsonl");
  public static final String LATEST = "checkpoint.latest";

  private LogFiles() {}

  /** A segment and the index of its first record. */
  public record Segment(long first, Path file) {
    public Path checkpoints() {
      return file.resolveSibling(base(first) + ".checkpoints");
    }

    public Path frontier() {
      return file.resolveSibling(base(first) + ".frontier");
    }
  }

  static String base(long first) {
    return String.format("seg-%020d", first);
  }

  static Path segmentFile(Path dir, long first) {
    return dir.resolve(base(first) + ".jsonl");
  }

  /** The segments in index order. */
  public static List<Segment> segments(Path dir) throws IOException {
    List<Segment> out = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "seg-*.jsonl")) {
      for (Path p : ds) {
        Matcher m = SEGMENT.matcher(p.getFileName().toString());
        if (m.matches()) {
          out.add(new Segment(Long.parseLong(m.group(1)), p));
        }
      }
    }
    out.sort((a, b) -> Long.compare(a.first, b.first));
    return out;
  }

  /** Text of a frontier file: the tree size, then one hex subtree root per line. */
  static String frontierText(Merkle.Frontier f) {
    StringBuilder b = new StringBuilder().append(f.size()).append('\n');
    for (byte[] h : f.subtreeRoots()) {
      b.append(HexFormat.of().formatHex(h)).append('\n');
    }
    return b.toString();
  }

  static Merkle.Frontier readFrontier(Path file) throws IOException {
    List<String> lines = Files.readAllLines(file, StandardCharsets.US_ASCII);
    if (lines.isEmpty()) {
      throw new IOException("empty frontier file " + file.getFileName());
    }
    long size = Long.parseLong(lines.get(0).trim());
    List<byte[]> hs = new ArrayList<>();
    for (String l : lines.subList(1, lines.size())) {
      if (!l.isBlank()) {
        hs.add(HexFormat.of().parseHex(l.trim()));
      }
    }
    try {
      return Merkle.Frontier.of(size, hs);
    } catch (IllegalArgumentException e) {
      throw new IOException("malformed frontier file " + file.getFileName() + ": " + e.getMessage());
    }
  }

  /** One line of a checkpoints file. */
  public record NoteLine(Path file, int line, String note, boolean torn) {}

  /** The signed notes of a checkpoints file; a last line without a line feed is marked torn. */
  static List<NoteLine> readNotes(Path file) throws IOException {
    List<NoteLine> out = new ArrayList<>();
    if (!Files.exists(file)) {
      return out;
    }
    byte[] all = Files.readAllBytes(file);
    int start = 0;
    int line = 0;
    while (start < all.length) {
      int nl = indexOf(all, (byte) '\n', start);
      boolean torn = nl < 0;
      int end = torn ? all.length : nl;
      line++;
      String b64 = new String(all, start, end - start, StandardCharsets.US_ASCII);
      String note;
      try {
        note = new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        note = null;
      }
      out.add(new NoteLine(file, line, note, torn));
      start = end + 1;
    }
    return out;
  }

  static int indexOf(byte[] b, byte v, int from) {
    for (int i = from; i < b.length; i++) {
      if (b[i] == v) {
        return i;
      }
    }
    return -1;
  }

  static String noteLine(String note) {
    return Base64.getEncoder().encodeToString(note.getBytes(StandardCharsets.UTF_8)) + "\n";
  }
}
