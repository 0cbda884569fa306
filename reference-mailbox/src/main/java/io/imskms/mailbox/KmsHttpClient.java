package io.imskms.mailbox;

import io.imskms.client.Bootstrapping;
import io.imskms.client.FreshRequest;
import io.imskms.client.MailboxClient;
import io.imskms.client.PendingRequest;
import io.imskms.client.RetryPolicy;
import io.imskms.client.UeClient;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.BootstrapResponse;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.MailboxKeyResponse;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.RetrievalResponse;
import io.imskms.protocol.Role;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxException;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClosedException;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import javax.net.ssl.SSLException;

/**
 * The JSON/HTTPS binding of the client SDK (docs/api.md): takes the binary protocol messages the
 * SDK builds ({@code io.imskms.client}), sends them to the KMS as JSON with unpadded base64url
 * fields, and returns the binary answer for the SDK to check. A refusal is a
 * {@link KmsProblemException} with the problem's status and code.
 *
 * <p>TLS 1.3 only, the server verified against the given CA and host name; with a client
 * certificate when the caller is a mailbox (seed step 1m: the KMS requires mutual TLS on mailbox
 * routes and compares the certificate's identity with the mailbox named in the request).
 *
 * <p>Several servers, or one load balancer (docs/api.md, "Clients of a cluster"): the client
 * sends to one server at a time and moves to the next in its list when a request gets no answer.
 * The methods taking a {@link FreshRequest} retry such a request under the {@link RetryPolicy}:
 * connection refused, connection closed or reset before the answer's status line, TLS handshake
 * failure, or no byte of answer within the request timeout. Every attempt is a new request built
 * by the SDK (fresh nonce and timestamp), never the same bytes again. A request that got an HTTP
 * answer, of any status (503 included), is never retried. The methods taking bytes send them
 * once.
 */
public final class KmsHttpClient implements AutoCloseable {
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64_IN = Base64.getUrlDecoder();
  /** A KMS answers in milliseconds; a node that says nothing for this long is treated as gone. */
  public static final long DEFAULT_TIMEOUT_MS = 10_000;
  static final int CONNECT_TIMEOUT_MS = 5_000;

  /** A request the SDK built, with the answer it got (possibly after retries). */
  public record Answered<P extends PendingRequest>(P pending, byte[] answer) {}

  /** One KMS node or load balancer. */
  record Endpoint(String host, int port) {
    @Override
    public String toString() {
      return "https://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
  }

  private final Vertx vertx;
  private final HttpClient http;
  private final List<Endpoint> endpoints;
  private final RetryPolicy retry;
  private final long timeoutMs;
  /** The endpoint that answered last: requests go there until it stops answering. */
  private final AtomicInteger current = new AtomicInteger();
  private final AtomicLong retries = new AtomicLong();

  private KmsHttpClient(Vertx vertx, HttpClient http, List<Endpoint> endpoints, RetryPolicy retry,
      long timeoutMs) {
    this.vertx = vertx;
    this.http = http;
    this.endpoints = endpoints;
    this.retry = retry;
    this.timeoutMs = timeoutMs;
  }

  /**
   * A client of the KMS at {@code server} (https://host:port), retrying unanswered requests under
   * {@link RetryPolicy#DEFAULT}.
   *
   * @param caCert PEM CA certificate that issued the KMS's server certificate
   * @param clientCert PEM client certificate (a mailbox), or null (a UE)
   * @param clientKey its PKCS#8 PEM key, or null
   */
  public static KmsHttpClient create(Vertx vertx, URI server, Path caCert, Path clientCert,
      Path clientKey) {
    Objects.requireNonNull(server, "server");
    return create(vertx, List.of(server), caCert, clientCert, clientKey, RetryPolicy.DEFAULT,
        DEFAULT_TIMEOUT_MS);
  }

  /**
   * A client of a KMS cluster: the nodes' URLs (or one load balancer's), tried in turn.
   *
   * @param servers https://host[:port] URLs, at least one, no path
   * @param timeoutMs how long a request may wait for the first byte of its answer
   */
  public static KmsHttpClient create(Vertx vertx, List<URI> servers, Path caCert, Path clientCert,
      Path clientKey, RetryPolicy retry, long timeoutMs) {
    Objects.requireNonNull(vertx, "vertx");
    Objects.requireNonNull(caCert, "caCert");
    Objects.requireNonNull(retry, "retry");
    if (timeoutMs <= 0) {
      throw new IllegalArgumentException("timeoutMs must be positive");
    }
    List<Endpoint> eps = endpoints(servers);
    HttpClientOptions o = new HttpClientOptions()
        .setSsl(true)
        .setVerifyHost(true)
        .setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
        .setTrustOptions(new PemTrustOptions().addCertPath(caCert.toString()))
        .setConnectTimeout((int) Math.min(CONNECT_TIMEOUT_MS, timeoutMs))
        .setKeepAlive(true);
    if (clientCert != null) {
      o.setKeyCertOptions(new PemKeyCertOptions().setCertPath(clientCert.toString())
          .setKeyPath(clientKey.toString()));
    }
    return new KmsHttpClient(vertx, vertx.createHttpClient(o), eps, retry, timeoutMs);
  }

  /** {@code https://a:1,https://b:2} → the URLs (blanks around commas ignored). */
  public static List<URI> parseServers(String commaSeparated) {
    List<URI> out = new ArrayList<>();
    for (String s : Objects.requireNonNull(commaSeparated, "servers").split(",")) {
      if (!s.isBlank()) {
        try {
          out.add(new URI(s.strip()));
        } catch (java.net.URISyntaxException e) {
          throw new IllegalArgumentException("not a URL: " + s.strip());
        }
      }
    }
    endpoints(out);
    return out;
  }

  static List<Endpoint> endpoints(List<URI> servers) {
    if (servers == null || servers.isEmpty()) {
      throw new IllegalArgumentException("at least one KMS URL is needed");
    }
    List<Endpoint> eps = new ArrayList<>();
    for (URI u : servers) {
      if (u == null || !"https".equalsIgnoreCase(u.getScheme()) || u.getHost() == null
          || (u.getRawPath() != null && !u.getRawPath().isEmpty() && !u.getRawPath().equals("/"))
          || u.getRawQuery() != null || u.getRawUserInfo() != null) {
        throw new IllegalArgumentException("the KMS URL must be https://host[:port]: " + u);
      }
      String host = u.getHost();
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      }
      eps.add(new Endpoint(host, u.getPort() < 0 ? 443 : u.getPort()));
    }
    return List.copyOf(eps);
  }

  // --- protocol requests, retried with a fresh request ----------------------------------------

  /**
   * Steps 1a/1b/1m: POST /v1/bootstrap of a request {@code fresh} builds for each attempt
   * (typically {@code () -> bootstrapping.start(credential)}).
   */
  public Future<Answered<Bootstrapping.Pending>> bootstrap(
      FreshRequest<Bootstrapping.Pending> fresh) {
    return retrying(fresh, this::bootstrapOnce);
  }

  /** Figure 17 steps 4–6 (and 19), retried with a fresh request per attempt. */
  public Future<Answered<MailboxClient.PendingKeyRequest>> mailboxKeyRequest(
      FreshRequest<MailboxClient.PendingKeyRequest> fresh) {
    return retrying(fresh, this::mailboxKeyRequestOnce);
  }

  /** Figure 18 steps 4–6, retried with a fresh request per attempt. */
  public Future<Answered<UeClient.PendingRetrieval>> retrieve(
      FreshRequest<UeClient.PendingRetrieval> fresh) {
    return retrying(fresh, this::retrieveOnce);
  }

  // --- protocol requests, sent once -----------------------------------------------------------

  /** Steps 1a/1b/1m: POST /v1/bootstrap once; returns the encoded {@code BootstrapResponse}. */
  public Future<byte[]> bootstrap(byte[] request) {
    return once(request, this::bootstrapOnce);
  }

  /** Figure 17 steps 4–6 (and 19): POST /v1/deferred/key-request once; the encoded response. */
  public Future<byte[]> mailboxKeyRequest(byte[] request) {
    return once(request, this::mailboxKeyRequestOnce);
  }

  /** Figure 18 steps 4–6: POST /v1/deferred/retrieve once; the encoded response. */
  public Future<byte[]> retrieve(byte[] request) {
    return once(request, this::retrieveOnce);
  }

  /**
   * POST /v1/deferred/retrieve of a request built by hand, once (the demo's dishonest mailbox uses
   * this with its own B-TID).
   */
  public Future<byte[]> retrieve(RetrievalRequest r) {
    return once(null, (e, ignored) -> retrieveOnce(e, r));
  }

  /**
   * GET /health/ready: true when the KMS answers 200. No nonce is involved, so a connection
   * failure moves on to the next server under the retry policy.
   */
  public Future<Boolean> ready() {
    Promise<Boolean> out = Promise.promise();
    attempt(1, e -> send(e, HttpMethod.GET, "/health/ready", null)
        .map(a -> a.status() == 200), out);
    return out.future();
  }

  /** Retries made so far by this client (attempts that got no answer and were followed by another). */
  public long retries() {
    return retries.get();
  }

  /** The server requests go to now: the last one that answered, or the next in the list. */
  public URI currentServer() {
    return URI.create(endpoints.get(current.get()).toString());
  }

  // --- one attempt ----------------------------------------------------------------------------

  private Future<byte[]> bootstrapOnce(Endpoint e, byte[] request) {
    BootstrapRequest r;
    try {
      r = BootstrapRequest.decode(request);
    } catch (ProtocolException ex) {
      return Future.failedFuture(ex);
    }
    JsonObject j = new JsonObject().put("role", r.role() == Role.MAILBOX ? "mailbox" : "ue")
        .put("id", r.id()).put("credVersion", r.credVersion()).put("nonce", b64(r.nonce()))
        .put("timestamp", r.timestampMs()).put("proof", b64(r.proof()));
    if (r.generation() != 0) {
      j.put("generation", r.generation()); // a re-enrolled principal (docs/api.md)
    }
    return post(e, "/v1/bootstrap", j)
        .map(a -> new BootstrapResponse(bytes(a, "btid"), bytes(a, "autn")).encode());
  }

  private Future<byte[]> mailboxKeyRequestOnce(Endpoint e, byte[] request) {
    MailboxKeyRequest r;
    try {
      r = MailboxKeyRequest.decode(request);
    } catch (ProtocolException ex) {
      return Future.failedFuture(ex);
    }
    JsonObject j = new JsonObject().put("idBm", r.idBm()).put("btidM", b64(r.btidM()))
        .put("offer", b64(r.offer())).put("e2m", r.wantE2m()).put("iv", b64(r.iv()))
        .put("em", b64(r.ciphertext()));
    return post(e, "/v1/deferred/key-request", j)
        .map(a -> new MailboxKeyResponse(bytes(a, "delivery"), bytes(a, "ticket"),
            a.containsKey("wrappedKe2m") ? bytes(a, "wrappedKe2m") : null, bytes(a, "mac"))
            .encode());
  }

  private Future<byte[]> retrieveOnce(Endpoint e, byte[] request) {
    RetrievalRequest r;
    try {
      r = RetrievalRequest.decode(request);
    } catch (ProtocolException ex) {
      return Future.failedFuture(ex);
    }
    return retrieveOnce(e, r);
  }

  private Future<byte[]> retrieveOnce(Endpoint e, RetrievalRequest r) {
    JsonObject j = new JsonObject().put("btidB", b64(r.btidB())).put("offer", b64(r.offer()))
        .put("ticket", b64(r.ticket())).put("iv", b64(r.iv())).put("eb", b64(r.ciphertext()));
    return post(e, "/v1/deferred/retrieve", j)
        .map(a -> new RetrievalResponse(bytes(a, "wrappedK")).encode());
  }

  /** How one endpoint is asked one request. */
  @FunctionalInterface
  private interface Exchange {
    Future<byte[]> send(Endpoint e, byte[] request);
  }

  private Future<byte[]> once(byte[] request, Exchange exchange) {
    int i = current.get();
    return exchange.send(endpoints.get(i), request).recover(t -> {
      if (t instanceof Unanswered) {
        current.compareAndSet(i, (i + 1) % endpoints.size()); // the next request goes elsewhere
      }
      return unwrap(t);
    });
  }

  private <P extends PendingRequest> Future<Answered<P>> retrying(FreshRequest<P> fresh,
      Exchange exchange) {
    Objects.requireNonNull(fresh, "fresh");
    Promise<Answered<P>> out = Promise.promise();
    attempt(1, e -> {
      P p;
      try {
        p = fresh.build(); // a new nonce and timestamp for every attempt
      } catch (ProtocolException ex) {
        return Future.failedFuture(ex);
      }
      return exchange.send(e, p.requestBytes()).map(answer -> new Answered<>(p, answer));
    }, out);
    return out.future();
  }

  /**
   * Attempt {@code n}: on a failure without an answer, the next server and, if the policy
   * allows, another attempt after the backoff; any other outcome is final.
   */
  private <T> void attempt(int n, Function<Endpoint, Future<T>> once, Promise<T> out) {
    int i = current.get();
    Future<T> f;
    try {
      f = once.apply(endpoints.get(i));
    } catch (RuntimeException ex) {
      out.fail(ex);
      return;
    }
    f.onComplete(ar -> {
      if (ar.succeeded()) {
        out.complete(ar.result());
        return;
      }
      if (!(ar.cause() instanceof Unanswered u)) {
        out.fail(ar.cause());
        return;
      }
      current.compareAndSet(i, (i + 1) % endpoints.size());
      if (!retry.mayRetryAfter(n)) {
        out.fail(u.getCause());
        return;
      }
      retries.incrementAndGet();
      long delay = retry.backoffBefore(n, ThreadLocalRandom.current()::nextDouble).toMillis();
      vertx.setTimer(Math.max(1, delay), t -> attempt(n + 1, once, out));
    });
  }

  // --- HTTP -----------------------------------------------------------------------------------

  /** An HTTP answer: its status, request id and body. */
  private record Answer(int status, String requestId, Buffer body) {}

  /**
   * A failure that happened before any byte of an answer (a retry may follow). Never leaves
   * this class: callers get its cause.
   */
  static final class Unanswered extends Exception {
    Unanswered(Throwable cause) {
      super(cause.toString(), cause, false, false);
    }
  }

  private Future<JsonObject> post(Endpoint e, String path, JsonObject body) {
    return send(e, HttpMethod.POST, path, body.toBuffer()).compose(KmsHttpClient::problemOrJson);
  }

  /**
   * One HTTP exchange. A failure before the answer's status line arrives is {@link Unanswered}
   * when it is a connection failure (see {@link #isConnectionFailure}); after it, the answer
   * counts as given whatever happens to its body.
   */
  private Future<Answer> send(Endpoint e, HttpMethod method, String path, Buffer body) {
    RequestOptions ro = new RequestOptions().setMethod(method).setHost(e.host())
        .setPort(e.port()).setURI(path).setIdleTimeout(timeoutMs)
        .putHeader("user-agent", "imskms-reference-client");
    if (body != null) {
      ro.putHeader("content-type", "application/json");
    }
    // A hard bound per attempt (twice the idle timeout), whatever the connection pool, the
    // connection or the response do: the caller always gets an outcome. Before the status line
    // it counts as unanswered (retried with a fresh request), after it as a failed answer.
    Promise<Answer> done = Promise.promise();
    AtomicBoolean statusSeen = new AtomicBoolean();
    AtomicReference<HttpClientRequest> sent = new AtomicReference<>();
    long deadline = 2 * timeoutMs;
    long timer = vertx.setTimer(deadline, id -> {
      HttpClientRequest r = sent.get();
      if (r != null) {
        r.reset();
      }
      TimeoutException t = new TimeoutException("no complete answer within " + deadline + " ms");
      done.tryFail(statusSeen.get() ? t : new Unanswered(t));
    });
    http.request(ro)
        .compose(req -> {
          sent.set(req);
          // The answer's body is asked for in this same event-loop task, before the loop can
          // read the answer: Vert.x 5.0.7 drops the end of a response whose body() is asked for
          // after it was read (vert.x issue 6038), and a chain attached later from the
          // caller's thread lost that race whenever the caller was slower than the round trip.
          return (body == null ? req.send() : req.send(body)).compose(resp -> {
            statusSeen.set(true);
            return resp.body().map(b -> new Answer(resp.statusCode(),
                resp.getHeader("X-Request-Id"), b));
          }, KmsHttpClient::beforeStatusLine);
        }, KmsHttpClient::beforeStatusLine)
        .onComplete(ar -> {
          vertx.cancelTimer(timer);
          if (ar.succeeded()) {
            done.tryComplete(ar.result());
          } else {
            done.tryFail(ar.cause());
          }
        });
    return done.future();
  }

  /** A failure before the answer's status line: {@link Unanswered} if the connection failed. */
  private static <T> Future<T> beforeStatusLine(Throwable t) {
    return Future.failedFuture(isConnectionFailure(t) ? new Unanswered(t) : t);
  }

  /**
   * Whether {@code t}, raised before any byte of an answer, means the request may not have been
   * seen or answered by the server: refused or failed connection, TLS handshake failure, a
   * connection closed or reset, a timeout. Local mistakes (a malformed request, a closed client)
   * are not.
   */
  static boolean isConnectionFailure(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof IOException || c instanceof SSLException || c instanceof TimeoutException
          || c instanceof HttpClosedException) {
        return true;
      }
      if (c instanceof VertxException && c.getMessage() != null
          && c.getMessage().toLowerCase(java.util.Locale.ROOT).contains("connection")
          && c.getMessage().toLowerCase(java.util.Locale.ROOT).contains("closed")) {
        return true;
      }
      if (c.getCause() == c) {
        break;
      }
    }
    return false;
  }

  private static <T> Future<T> unwrap(Throwable t) {
    return Future.failedFuture(t instanceof Unanswered u ? u.getCause() : t);
  }

  private static Future<JsonObject> problemOrJson(Answer a) {
    JsonObject json;
    try {
      json = a.body() == null || a.body().length() == 0 ? new JsonObject()
          : new JsonObject(a.body());
    } catch (DecodeException | ClassCastException e) {
      json = new JsonObject();
    }
    if (a.status() != 200) {
      String code = json.getValue("code") instanceof String s ? s : "UNKNOWN";
      return Future.failedFuture(new KmsProblemException(a.status(), code, a.requestId()));
    }
    return Future.succeededFuture(json);
  }

  private static String b64(byte[] b) {
    return B64.encodeToString(b);
  }

  private static byte[] bytes(JsonObject j, String field) {
    String s = j.getString(field);
    if (s == null) {
      throw new IllegalStateException("the KMS's answer has no " + field);
    }
    return B64_IN.decode(s);
  }

  @Override
  public void close() {
    http.close();
  }
}
