package io.imskms.audit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.core.StreamReadFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;

/**
 * One audit record and its canonical byte encoding (docs/audit-format.md): one JSON object on one
 * line, with the members below in this order, all present, no white space, strings escaped
 * minimally ({@code \"}, {@code \\}, and {@code \\u00xx} in lower-case hex for U+0000–U+001F and
 * U+007F; everything else literal UTF-8), absent values as {@code null}. The Merkle leaf is the
 * UTF-8 bytes of that line without its line feed.
 *
 * <p>{@code seq} is the leaf index; {@code prev} is the first 16 bytes (hex) of the previous
 * record's leaf hash (zeros for the first record). Neither adds security beyond the signed tree;
 * they let the verifier name the first bad record and say what happened to it.
 */
public record AuditRecord(long seq, String time, String node, AuditEvent event, String prev) {
  public static final String[] FIELDS = {"seq", "time", "node", "event", "outcome", "code",
      "requestId", "caller", "idA", "idB", "idBm", "keyVersions", "ticket", "clientCert", "detail",
      "prev"};
  static final String FIRST_PREV = "00000000000000000000000000000000";
  private static final DateTimeFormatter TIME = DateTimeFormatter
      .ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);
  private static final ObjectMapper JSON = JsonMapper.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

  public static String formatTime(Instant t) {
    return TIME.format(t);
  }

  /** The link value for the record after one whose leaf hash is {@code leafHash}. */
  public static String link(byte[] leafHash) {
    return HexFormat.of().formatHex(leafHash, 0, 16);
  }

  /** The canonical line, without its line feed. */
  public byte[] encode() {
    StringBuilder b = new StringBuilder(256);
    b.append("{\"seq\":").append(seq);
    str(b, "time", time);
    str(b, "node", node);
    str(b, "event", event.event());
    str(b, "outcome", event.outcome().wire());
    str(b, "code", event.code());
    str(b, "requestId", event.requestId());
    str(b, "caller", event.caller());
    str(b, "idA", event.idA());
    str(b, "idB", event.idB());
    str(b, "idBm", event.idBm());
    str(b, "keyVersions", event.keyVersions());
    str(b, "ticket", event.ticket());
    str(b, "clientCert", event.clientCert());
    str(b, "detail", event.detail());
    str(b, "prev", prev);
    b.append('}');
    return b.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static void str(StringBuilder b, String name, String v) {
    b.append(",\"").append(name).append("\":");
    if (v == null) {
      b.append("null");
      return;
    }
    b.append('"');
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else if (c < 0x20 || c == 0x7f) {
        b.append(String.format("\\u%04x", (int) c));
      } else if (Character.isSurrogate(c)) {
        if (Character.isHighSurrogate(c) && i + 1 < v.length()
            && Character.isLowSurrogate(v.charAt(i + 1))) {
          b.append(c).append(v.charAt(++i));
        } else {
          b.append('\uFFFD'); // a lone surrogate has no UTF-8 encoding
        }
      } else {
        b.append(c);
      }
    }
    b.append('"');
  }

  /**
   * Parses a line (without its line feed) and checks that it is canonical: the same bytes come
   * back from {@link #encode()}.
   */
  public static AuditRecord parse(byte[] line) throws MalformedRecordException {
    JsonNode n;
    try {
      n = JSON.readTree(line);
    } catch (IOException e) {
      throw new MalformedRecordException("not a JSON object");
    }
    if (n == null || !n.isObject() || n.size() != FIELDS.length) {
      throw new MalformedRecordException("not a record object with " + FIELDS.length + " members");
    }
    Iterator<Map.Entry<String, JsonNode>> it = n.fields();
    for (String f : FIELDS) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getKey().equals(f)) {
        throw new MalformedRecordException("member " + f + " expected, found another");
      }
      JsonNode v = e.getValue();
      boolean ok = f.equals("seq") ? v.isIntegralNumber() && v.canConvertToLong()
          && v.asLong() >= 0 : v.isTextual() || v.isNull();
      if (!ok) {
        throw new MalformedRecordException("member " + f + " has the wrong type");
      }
    }
    AuditRecord r;
    try {
      Instant t = Instant.from(TIME.parse(text(n, "time")));
      AuditEvent ev = new AuditEvent(t, text(n, "event"),
          AuditEvent.Outcome.fromWire(text(n, "outcome")), text(n, "code"),
          text(n, "requestId"), text(n, "caller"), text(n, "idA"), text(n, "idB"),
          text(n, "idBm"), text(n, "keyVersions"), text(n, "ticket"), text(n, "clientCert"),
          text(n, "detail"));
      r = new AuditRecord(n.get("seq").asLong(), text(n, "time"), text(n, "node"), ev,
          text(n, "prev"));
    } catch (RuntimeException e) {
      throw new MalformedRecordException("a member has an invalid value");
    }
    if (!java.util.Arrays.equals(r.encode(), line)) {
      throw new MalformedRecordException("not in canonical encoding");
    }
    return r;
  }

  private static String text(JsonNode n, String f) {
    JsonNode v = n.get(f);
    return v == null || v.isNull() ? null : v.asText();
  }

  /** Reads just the leading {@code {"seq":N,} of a line; -1 if it is not there. */
  static long quickSeq(byte[] buf, int off, int len) {
    final byte[] p = "{\"seq\":".getBytes(StandardCharsets.US_ASCII);
    if (len < p.length + 2) {
      return -1;
    }
    for (int i = 0; i < p.length; i++) {
      if (buf[off + i] != p[i]) {
        return -1;
      }
    }
    long v = 0;
    int i = off + p.length;
    int end = off + len;
    int digits = 0;
    while (i < end && buf[i] >= '0' && buf[i] <= '9' && digits < 19) {
      v = v * 10 + (buf[i] - '0');
      i++;
      digits++;
    }
    return digits == 0 || i >= end || buf[i] != ',' ? -1 : v;
  }

  /** A line that is not a canonical record. */
  public static final class MalformedRecordException extends Exception {
    public MalformedRecordException(String message) {
      super(message);
    }
  }
}
