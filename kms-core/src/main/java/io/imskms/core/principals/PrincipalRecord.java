package io.imskms.core.principals;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.imskms.protocol.Identity;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.Wire;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The shared record of the principals that are not in their default state (generation 0, not
 * revoked): the revoked ones and the re-enrolled ones, nothing else. So its size is O(revoked
 * or re-enrolled principals), never O(users); a first enrolment writes nothing. Kept in the token
 * ({@link PrincipalRegistry}). Immutable.
 */
public final class PrincipalRecord {
  /** The only format version this class reads and writes. */
  public static final int FORMAT_VERSION = 1;
  /** Longest revocation reason, in characters. */
  public static final int MAX_REASON = 200;

  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  /**
   * One principal (by identity, whatever its role: the directory makes an identity either a UE
   * or a mailbox, never both).
   *
   * @param generation the current credential generation; older ones are refused
   * @param revokedAt when it was revoked, empty if it is not
   * @param reason the operator's reason for the revocation, if given
   * @param changed when this entry last changed
   */
  public record Entry(String id, int generation, Optional<Instant> revokedAt,
      Optional<String> reason, Instant changed) {
    public Entry {
      Objects.requireNonNull(id, "id");
      Objects.requireNonNull(revokedAt, "revokedAt");
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(changed, "changed");
      try {
        Identity.requireNormal(id);
      } catch (ProtocolException e) {
        throw new IllegalArgumentException("not an identity in normal form");
      }
      if (generation < 0 || generation > Wire.MAX_GENERATION) {
        throw new IllegalArgumentException("generation out of range");
      }
      reason.ifPresent(PrincipalRecord::checkReason);
      if (reason.isPresent() && revokedAt.isEmpty()) {
        throw new IllegalArgumentException("a reason without a revocation");
      }
    }

    public boolean revoked() {
      return revokedAt.isPresent();
    }

    /** Whether the entry says nothing (generation 0, not revoked) and need not be stored. */
    boolean isDefault() {
      return generation == 0 && revokedAt.isEmpty();
    }
  }

  /** No record yet: nobody revoked, everyone at generation 0. */
  public static final PrincipalRecord NONE = new PrincipalRecord(0, List.of());

  private final long sequence;
  private final Map<String, Entry> entries;

  PrincipalRecord(long sequence, Collection<Entry> entries) {
    this.sequence = sequence;
    Map<String, Entry> m = new TreeMap<>();
    for (Entry e : entries) {
      if (e.isDefault()) {
        continue;
      }
      if (m.put(e.id(), e) != null) {
        throw new IllegalArgumentException("a principal is recorded twice");
      }
    }
    this.entries = Collections.unmodifiableMap(m);
  }

  /** A revocation reason is printable text of at most {@link #MAX_REASON} characters. */
  public static void checkReason(String reason) {
    if (reason.isEmpty() || reason.length() > MAX_REASON) {
      throw new IllegalArgumentException("the reason must be 1.." + MAX_REASON + " characters");
    }
    for (int i = 0; i < reason.length(); i++) {
      if (Character.isISOControl(reason.charAt(i))) {
        throw new IllegalArgumentException("the reason must not contain control characters");
      }
    }
  }

  /** Increases with every write; a reader refuses to go back to a lower one. 0 for NONE. */
  public long sequence() {
    return sequence;
  }

  /** The recorded principals by identity. */
  public Map<String, Entry> entries() {
    return entries;
  }

  /** The entry of {@code id}, if it is revoked or was re-enrolled. */
  public Optional<Entry> entry(String id) {
    return Optional.ofNullable(entries.get(id));
  }

  /** This record with {@code e} added or replaced (dropped if it is the default); same sequence. */
  PrincipalRecord with(Entry e) {
    Map<String, Entry> m = new TreeMap<>(entries);
    m.put(e.id(), e);
    return new PrincipalRecord(sequence, m.values());
  }

  /** The same entries under the next sequence number: what a write stores. */
  PrincipalRecord successor() {
    return new PrincipalRecord(sequence + 1, entries.values());
  }

  /** Compact JSON, fields in a fixed order, entries sorted by identity. */
  byte[] encode() {
    ObjectNode root = JSON.createObjectNode();
    root.put("format", FORMAT_VERSION);
    root.put("sequence", sequence);
    ArrayNode list = root.putArray("principals");
    for (Entry e : entries.values()) {
      ObjectNode p = list.addObject();
      p.put("id", e.id());
      p.put("generation", e.generation());
      e.revokedAt().ifPresent(t -> p.put("revokedAt", t.toString()));
      e.reason().ifPresent(r -> p.put("reason", r));
      p.put("changed", e.changed().toString());
    }
    try {
      return JSON.writeValueAsBytes(root);
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode the principal record", e);
    }
  }

  /**
   * Parses a document made by {@link #encode()}.
   *
   * @throws IOException if it is not one (the message never echoes the bytes)
   */
  static PrincipalRecord decode(byte[] bytes) throws IOException {
    JsonNode root = JSON.readTree(bytes);
    if (root == null || !root.isObject() || root.path("format").intValue() != FORMAT_VERSION
        || !root.path("sequence").canConvertToLong() || !root.path("principals").isArray()) {
      throw new IOException("not a principal record of format " + FORMAT_VERSION);
    }
    List<Entry> entries = new ArrayList<>();
    for (JsonNode p : root.get("principals")) {
      try {
        if (!p.path("id").isTextual() || !p.path("generation").canConvertToInt()
            || !p.path("changed").isTextual()) {
          throw new IOException("a principal entry lacks id, generation or changed");
        }
        entries.add(new Entry(p.get("id").asText(), p.get("generation").intValue(),
            instant(p, "revokedAt"), text(p, "reason"), Instant.parse(p.get("changed").asText())));
      } catch (IllegalArgumentException | java.time.DateTimeException e) {
        throw new IOException("bad principal entry: " + e.getMessage(), e);
      }
    }
    try {
      return new PrincipalRecord(root.get("sequence").longValue(), entries);
    } catch (IllegalArgumentException e) {
      throw new IOException("bad principal record: " + e.getMessage(), e);
    }
  }

  private static Optional<Instant> instant(JsonNode n, String name) {
    JsonNode v = n.get(name);
    return v == null || v.isNull() ? Optional.empty() : Optional.of(Instant.parse(v.asText()));
  }

  private static Optional<String> text(JsonNode n, String name) {
    JsonNode v = n.get(name);
    return v == null || v.isNull() ? Optional.empty() : Optional.of(v.asText());
  }

  @Override
  public String toString() {
    return "PrincipalRecord[sequence " + sequence + ", " + entries.size() + " entries]";
  }
}
