package io.imskms.audit;

import java.time.Instant;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * What happened, as handed to {@link AuditLog#append}: everything in a record except what the log
 * assigns (sequence number, node, link to the previous record).
 *
 * <p>Security guarantees: the fields hold names, codes, versions and digests only. Callers put
 * identities in clear or pseudonymised ({@code p1:…}) as configured, tickets as their SHA-256
 * digest and certificates as their SHA-256 fingerprint; never a key, PIN, wrapped key, ticket body
 * or ciphertext. {@link #builder} checks the digests' shapes so that a body cannot be passed by
 * mistake where a digest belongs.
 */
public record AuditEvent(Instant time, String event, Outcome outcome, String code,
    String requestId, String caller, String idA, String idB, String idBm, String keyVersions,
    String ticket, String clientCert, String detail) {

  /** The decision or fact a record states. */
  public enum Outcome {
    /** Granted / issued / done. */
    OK,
    /** Refused with an error code. */
    REFUSED,
    /** A fault of the KMS or its HSM/disk. */
    FAULT,
    /** A fact without a decision (start-up, shutdown, rotation, repair). */
    INFO;

    public String wire() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    static Outcome fromWire(String s) {
      for (Outcome o : values()) {
        if (o.wire().equals(s)) {
          return o;
        }
      }
      throw new IllegalArgumentException("unknown outcome");
    }
  }

  // Compiled once: String.matches compiles its pattern at every call, and every grant makes an
  // event (docs/performance.md, "Fifth round").
  private static final Pattern EVENT_NAME = Pattern.compile("[a-z][a-z0-9_.]{0,63}");
  private static final Pattern SHA256 = Pattern.compile("sha256:[0-9a-f]{64}");

  public AuditEvent {
    Objects.requireNonNull(time, "time");
    Objects.requireNonNull(outcome, "outcome");
    if (event == null || !EVENT_NAME.matcher(event).matches()) {
      throw new IllegalArgumentException("event is a lower-case name");
    }
    if (ticket != null && !SHA256.matcher(ticket).matches()) {
      throw new IllegalArgumentException("ticket is a SHA-256 digest (sha256:hex), never a body");
    }
    if (clientCert != null && !SHA256.matcher(clientCert).matches()) {
      throw new IllegalArgumentException("clientCert is a SHA-256 fingerprint (sha256:hex)");
    }
  }

  public static Builder builder(String event, Outcome outcome) {
    return new Builder(event, outcome);
  }

  /** Fluent construction; unset fields are null. */
  public static final class Builder {
    private final String event;
    private final Outcome outcome;
    private Instant time;
    private String code;
    private String requestId;
    private String caller;
    private String idA;
    private String idB;
    private String idBm;
    private String keyVersions;
    private String ticket;
    private String clientCert;
    private String detail;

    private Builder(String event, Outcome outcome) {
      this.event = event;
      this.outcome = outcome;
    }

    public Builder time(Instant v) {
      time = v;
      return this;
    }

    public Builder code(String v) {
      code = v;
      return this;
    }

    public Builder requestId(String v) {
      requestId = v;
      return this;
    }

    public Builder caller(String v) {
      caller = v;
      return this;
    }

    public Builder idA(String v) {
      idA = v;
      return this;
    }

    public Builder idB(String v) {
      idB = v;
      return this;
    }

    public Builder idBm(String v) {
      idBm = v;
      return this;
    }

    public Builder keyVersions(String v) {
      keyVersions = v;
      return this;
    }

    /** Records the SHA-256 of {@code ticketBytes}; the bytes themselves are not kept. */
    public Builder ticketOf(byte[] ticketBytes) {
      return ticketDigest(ticketBytes == null ? null : Merkle.sha256(ticketBytes));
    }

    /** Records the SHA-256 fingerprint of a certificate's DER encoding. */
    public Builder clientCertOf(byte[] certificateDer) {
      return clientCertFingerprint(certificateDer == null ? null : Merkle.sha256(certificateDer));
    }

    /** The SHA-256 of the ticket's bytes (never the ticket). */
    public Builder ticketDigest(byte[] sha256) {
      ticket = sha256 == null ? null : "sha256:" + java.util.HexFormat.of().formatHex(sha256);
      return this;
    }

    /** The SHA-256 of the client certificate's DER encoding. */
    public Builder clientCertFingerprint(byte[] sha256) {
      clientCert = sha256 == null ? null
          : "sha256:" + java.util.HexFormat.of().formatHex(sha256);
      return this;
    }

    public Builder detail(String v) {
      detail = v;
      return this;
    }

    public AuditEvent build() {
      return new AuditEvent(time == null ? Instant.now() : time, event, outcome, code, requestId,
          caller, idA, idB, idBm, keyVersions, ticket, clientCert, detail);
    }
  }
}
