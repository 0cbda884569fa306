package io.imskms.api;

import io.imskms.api.audit.AuditPseudonyms;
import io.imskms.api.tls.ClientIdentity;
import io.imskms.audit.AuditEvent;
import io.imskms.audit.AuditLog;
import io.imskms.audit.AuditUnavailableException;
import io.imskms.hsm.HsmException;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.BootstrapResponse;
import io.imskms.protocol.Btid;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.MailboxKeyResponse;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.Ticket;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.ext.web.RoutingContext;
import java.security.cert.Certificate;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * The server's side of the audit log: what each protocol request's record says, and the future
 * that must complete before its answer is sent. {@link KmsServer#run} records grants (with
 * {@link #appendDurable}, on the HSM worker that computed the grant), {@link Problems} records
 * refusals (with {@link #append}, from the event loop); both send the answer only once the
 * records are durable, and answer {@link Failure#AUDIT_UNAVAILABLE} when they could not be.
 *
 * <p>Security guarantees: a record holds identities, codes, key versions, the SHA-256 of the
 * ticket and of the client certificate; never a key, PIN, wrapped key, ticket body, offer or
 * ciphertext. The fields are filled from the protocol messages' clear parts only (B-TID body,
 * ticket header), never from anything decrypted. With {@code audit.identities: pseudonymised}
 * the caller and {@code idA}, {@code idB}, {@code idBm} are written only as {@code p1:}
 * pseudonyms ({@link AuditPseudonyms}), never in clear; the HMAC runs on the HSM worker thread
 * that served the request ({@link #appendDurable}) or, for a refusal of an identity not cached,
 * on a Vert.x worker thread; never on the event loop.
 */
final class AuditTrail {
  static final String FACTS = "kms.audit.facts";

  /** The protocol routes and the event their records carry. */
  static final Map<String, String> EVENTS = Map.of(
      "/v1/bootstrap", "bootstrap",
      "/v1/deferred/key-request", "mailbox_key_request",
      "/v1/deferred/retrieve", "retrieve");

  private final AuditLog log;
  private final ApiMetrics metrics;
  /** Null when identities are recorded in clear ({@code audit.identities: plain}). */
  private final AuditPseudonyms pseudonyms;

  AuditTrail(AuditLog log, AuditPseudonyms pseudonyms, ApiMetrics metrics) {
    this.log = log;
    this.pseudonyms = pseudonyms;
    this.metrics = metrics;
  }

  boolean healthy() {
    return log.healthy();
  }

  long size() {
    return log.size();
  }

  String latestCheckpoint() {
    return log.latestCheckpoint();
  }

  /**
   * Appends the records from the event loop (a refusal's, in {@link Problems}); the future
   * completes on {@code vertx}'s current context once all are durable, or fails with {@link
   * ApiFailure}({@link Failure#AUDIT_UNAVAILABLE}).
   */
  Future<Void> append(Vertx vertx, List<AuditEvent> events) {
    Context ctx = vertx.getOrCreateContext();
    if (pseudonyms != null && Context.isOnEventLoopThread() && !allCached(events)) {
      // An identity not seen recently: its HMAC runs on a worker thread, never on the event loop.
      return vertx.executeBlocking(() -> pseudonymised(events), false)
          .compose(mapped -> onContext(ctx, durable(mapped)));
    }
    return onContext(ctx, appendDurable(events));
  }

  /**
   * Appends the records on the calling thread, which computes their pseudonyms when identities
   * are pseudonymised (so not an event loop, unless all are cached): a grant's records, by the
   * HSM worker that computed the grant. The stage completes on the audit writer's thread once
   * all are durable, or fails with {@link ApiFailure}({@link Failure#AUDIT_UNAVAILABLE}).
   */
  CompletableFuture<Void> appendDurable(List<AuditEvent> events) {
    try {
      return durable(pseudonyms == null ? events : pseudonymised(events));
    } catch (ApiFailure f) {
      return CompletableFuture.failedFuture(f);
    }
  }

  private boolean allCached(List<AuditEvent> events) {
    for (AuditEvent e : events) {
      if (!pseudonyms.allCached(e, true)) {
        return false;
      }
    }
    return true;
  }

  /**
   * The events with their identities pseudonymised. When the HSM cannot compute a pseudonym, a
   * grant is not recorded (fails with AUDIT_UNAVAILABLE: nothing is released), and a refusal is
   * recorded without its identities (never in clear) and says so.
   */
  private List<AuditEvent> pseudonymised(List<AuditEvent> events) throws ApiFailure {
    List<AuditEvent> out = new java.util.ArrayList<>(events.size());
    for (AuditEvent e : events) {
      try {
        out.add(pseudonyms.apply(e, true));
      } catch (HsmException | RuntimeException x) {
        if (e.outcome() == AuditEvent.Outcome.OK) {
          throw new ApiFailure(Failure.AUDIT_UNAVAILABLE);
        }
        String note = "identities withheld: pseudonym not computed (HSM)";
        out.add(new AuditEvent(e.time(), e.event(), e.outcome(), e.code(), e.requestId(), null,
            null, null, null, e.keyVersions(), e.ticket(), e.clientCert(),
            e.detail() == null ? note : e.detail() + "; " + note));
      }
    }
    return out;
  }

  /** Hands the records to the log; the wait until durable is timed where it ends. */
  private CompletableFuture<Void> durable(List<AuditEvent> events) {
    long t0 = System.nanoTime();
    CompletableFuture<?>[] fs = new CompletableFuture<?>[events.size()];
    for (int i = 0; i < fs.length; i++) {
      fs[i] = log.append(events.get(i));
    }
    return CompletableFuture.allOf(fs).handle((v, t) -> {
      metrics.auditAppend(t == null ? "ok" : Failure.AUDIT_UNAVAILABLE.name(),
          System.nanoTime() - t0);
      if (t != null) {
        throw new CompletionException(new ApiFailure(Failure.AUDIT_UNAVAILABLE));
      }
      return null;
    });
  }

  /** The stage's outcome on {@code ctx}: success, or AUDIT_UNAVAILABLE whatever the failure. */
  private static Future<Void> onContext(Context ctx, CompletableFuture<Void> stage) {
    Promise<Void> p = Promise.promise();
    stage.whenComplete((v, t) -> ctx.runOnContext(x -> {
      if (t == null) {
        p.complete();
      } else {
        p.fail(new ApiFailure(Failure.AUDIT_UNAVAILABLE));
      }
    }));
    return p.future();
  }

  /** The facts gathered about this request so far (made on first use). */
  static Facts facts(RoutingContext rc) {
    Facts f = rc.get(FACTS);
    if (f == null) {
      f = new Facts(EVENTS.get(rc.normalizedPath()), RequestTracking.requestId(rc));
      clientCertificate(rc, f);
      rc.put(FACTS, f);
    }
    return f;
  }

  /** Whether the request's refusal is recorded (a protocol route). */
  static boolean audited(RoutingContext rc) {
    return EVENTS.containsKey(rc.normalizedPath());
  }

  private static void clientCertificate(RoutingContext rc, Facts f) {
    HttpConnection conn = rc.request().connection();
    if (conn == null || !conn.isSsl()) {
      return;
    }
    try {
      List<Certificate> chain = conn.peerCertificates();
      if (chain != null && !chain.isEmpty() && chain.get(0) instanceof X509Certificate c) {
        f.clientCert = c.getEncoded();
        List<String> uris = ClientIdentity.sanUris(c);
        f.caller = uris.isEmpty() ? null : uris.get(0);
      }
    } catch (SSLPeerUnverifiedException | CertificateEncodingException e) {
      // no verified certificate: nothing to record
    }
  }

  /**
   * What a record says about one request; filled on the event loop (request) and on the worker
   * (response), read after the worker's future completed.
   */
  static final class Facts {
    final String event;
    final String requestId;
    String caller;
    String idA;
    String idB;
    String idBm;
    /** The client certificate (DER) and ticket as presented: only their digests are recorded. */
    byte[] clientCert;
    byte[] ticket;
    final TreeSet<String> keyVersions = new TreeSet<>();
    String detail;
    boolean ke2mIssued;

    Facts(String event, String requestId) {
      this.event = event;
      this.requestId = requestId;
    }

    void request(BootstrapRequest r) {
      // The bootstrapping principal (authenticated by its credential when the grant is
      // recorded; a mailbox also by its certificate, which names the same principal).
      if (caller == null) {
        caller = r.id();
      }
      if (r.role() == io.imskms.protocol.Role.MAILBOX) {
        idBm = r.id();
      }
      detail = "role " + r.role().name().toLowerCase(java.util.Locale.ROOT);
      keyVersions.add("credential:" + r.credVersion());
    }

    void response(BootstrapResponse r) {
      btid(r.btid());
    }

    void request(MailboxKeyRequest r) {
      idBm = r.idBm();
      btid(r.btidM());
      detail = r.wantE2m() ? "Ke2m requested" : null;
    }

    void response(MailboxKeyResponse r) {
      ticket(r.ticket());
      ke2mIssued = r.wrappedKe2m() != null && r.wrappedKe2m().length > 0;
    }

    void request(RetrievalRequest r) {
      btid(r.btidB());
      ticket(r.ticket());
    }

    /** The B-TID's clear body: who bootstrapped, with which key versions. */
    private void btid(byte[] b) {
      try {
        Btid t = Btid.decode(b);
        if ("retrieve".equals(event)) {
          caller = t.id(); // UE-B, authenticated by Kb when the grant is recorded
        }
        keyVersions.add("credential:" + t.credVersion());
        keyVersions.add("btid-mac:" + t.btidMacVersion());
      } catch (ProtocolException | RuntimeException e) {
        // malformed: the refusal's code says so; nothing more to record
      }
    }

    /** The ticket's digest and its clear header (identities, key versions). */
    private void ticket(byte[] b) {
      if (b == null) {
        return;
      }
      ticket = b;
      try {
        Ticket t = Ticket.decode(b);
        idA = t.idA();
        idB = t.idB();
        idBm = t.idBm();
        keyVersions.add("ticket-root:" + t.ticketRootVersion());
        keyVersions.add("media-root:" + t.mediaRootVersion());
      } catch (ProtocolException | RuntimeException e) {
        // malformed: the digest identifies what was presented
      }
    }

    AuditEvent.Builder builder(String name, AuditEvent.Outcome outcome) {
      return AuditEvent.builder(name, outcome)
          .requestId(requestId)
          .caller(caller)
          .idA(idA)
          .idB(idB)
          .idBm(idBm)
          .keyVersions(keyVersions.isEmpty() ? null : String.join(",", keyVersions))
          .ticketOf(ticket)
          .clientCertOf(clientCert)
          .detail(detail);
    }

    /** The grant's records: the operation's, and for a Figure 19 grant the Ke2m issuance. */
    List<AuditEvent> granted() {
      AuditEvent main = builder(event, AuditEvent.Outcome.OK).build();
      if (!ke2mIssued) {
        return List.of(main);
      }
      return List.of(main, builder("ke2m_issued", AuditEvent.Outcome.OK)
          .detail("Ke2m wrapped for the mailbox idBm").build());
    }

    /** The refusal's record, with the problem code the client is told. */
    AuditEvent refused(Failure f) {
      return builder(event, f.status() >= 500 ? AuditEvent.Outcome.FAULT
          : AuditEvent.Outcome.REFUSED).code(f.name()).build();
    }
  }

  /**
   * Whether {@code t} is the audit log's own failure: such a refusal gets no record of its own
   * (it could not be written); the log records the outage and the refused count when it recovers.
   */
  static boolean isAuditFailure(Throwable t) {
    return t instanceof AuditUnavailableException
        || t instanceof ApiFailure a && a.failure() == Failure.AUDIT_UNAVAILABLE;
  }
}
