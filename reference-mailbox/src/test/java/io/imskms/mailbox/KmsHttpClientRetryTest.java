package io.imskms.mailbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.api.TestKms;
import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.RandomSource;
import io.imskms.client.RetryPolicy;
import io.imskms.protocol.Role;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClosedException;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import java.io.IOException;
import java.net.ConnectException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The SDK's HTTPS binding with several servers and retries, over real HTTPS: a real KMS on a real
 * SoftHSM2 token ({@link TestKms}) behind a URL with nothing listening, behind a peer that reads
 * the request and closes the connection without answering (a node killed mid-request), behind a
 * peer that never answers, and behind a peer that answers 503. Those peers are plain Vert.x HTTPS
 * servers with the KMS's own dev certificate: they stand for broken nodes, not for the KMS.
 */
class KmsHttpClientRetryTest {
  private static final RetryPolicy FAST = new RetryPolicy(3, Duration.ofMillis(10),
      Duration.ofMillis(40));

  private static TestKms kms;
  private static Vertx vertx;
  private static Path ca;
  private static URI real;
  private static Credential alice;
  private static final List<HttpServer> peers = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void setUp() throws Exception {
    kms = TestKms.start(env -> { });
    vertx = Vertx.vertx();
    ca = kms.app.devTls().caCert();
    real = URI.create("https://localhost:" + kms.app.port());
    alice = kms.enrol(Role.UE, TestKms.ALICE);
  }

  @AfterAll
  static void tearDown() {
    for (HttpServer s : peers) {
      s.close().await();
    }
    if (vertx != null) {
      vertx.close().await();
    }
    if (kms != null) {
      kms.close();
    }
  }

  /** Builds bootstrap requests and keeps every one it built. */
  private static final class Counting {
    final Bootstrapping b;
    final List<byte[]> built = new CopyOnWriteArrayList<>();

    Counting(Clock clock) {
      b = new Bootstrapping(clock, RandomSource.secure());
    }

    Bootstrapping.Pending build() {
      Bootstrapping.Pending p = b.start(alice);
      built.add(p.requestBytes());
      return p;
    }

    Set<String> distinct() {
      Set<String> s = new HashSet<>();
      built.forEach(x -> s.add(java.util.HexFormat.of().formatHex(x)));
      return s;
    }
  }

  private static KmsHttpClient client(RetryPolicy policy, long timeoutMs, URI... servers) {
    return KmsHttpClient.create(vertx, List.of(servers), ca, null, null, policy, timeoutMs);
  }

  private static URI nothingListening() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return URI.create("https://localhost:" + s.getLocalPort());
    }
  }

  /** An HTTPS peer with the KMS's dev certificate that treats each request with {@code h}. */
  private static URI peer(io.vertx.core.Handler<HttpServerRequest> h) {
    HttpServerOptions o = new HttpServerOptions().setHost("127.0.0.1").setPort(0).setSsl(true)
        .setKeyCertOptions(new PemKeyCertOptions()
            .setCertPath(kms.app.devTls().serverCert().toString())
            .setKeyPath(kms.app.devTls().serverKey().toString()));
    HttpServer s = vertx.createHttpServer(o).requestHandler(h).listen().await();
    peers.add(s);
    return URI.create("https://localhost:" + s.actualPort());
  }

  private static Throwable failure(io.vertx.core.Future<?> f) {
    CompletionException e = assertThrows(CompletionException.class,
        () -> f.toCompletionStage().toCompletableFuture().join());
    return e.getCause();
  }

  @Test
  void firstServerNotListening_theNextAnswers_withAFreshRequest() throws Exception {
    Counting c = new Counting(Clock.systemUTC());
    try (KmsHttpClient client = client(FAST, 5_000, nothingListening(), real)) {
      KmsHttpClient.Answered<Bootstrapping.Pending> a = client.bootstrap(c::build).await();
      ClientSession s = c.b.finish(a.pending(), a.answer());
      assertEquals(TestKms.ALICE, s.id());
      assertEquals(2, c.built.size(), "one refused attempt, one answered");
      assertEquals(2, c.distinct().size(), "the retry sent new bytes");
      assertEquals(1, client.retries());
      assertEquals(real, client.currentServer(), "later requests go to the server that answered");
      // The next request goes straight to the server that answered.
      client.bootstrap(c::build).await();
      assertEquals(3, c.built.size());
      assertEquals(1, client.retries());
    }
  }

  @Test
  void connectionClosedAfterTheRequestWasRead_isRetried_eachAttemptANewRequest()
      throws Exception {
    List<JsonObject> seen = new CopyOnWriteArrayList<>();
    URI killed = peer(req -> req.body().onSuccess(b -> {
      seen.add(b.toJsonObject());
      req.connection().close(); // the node dies with the request read, nothing answered
    }));
    Counting c = new Counting(Clock.systemUTC());
    try (KmsHttpClient client = client(FAST, 5_000, killed)) {
      Throwable t = failure(client.bootstrap(c::build));
      assertTrue(KmsHttpClient.isConnectionFailure(t), t.toString());
      assertFalse(t instanceof KmsHttpClient.Unanswered, "callers get the connection failure");
      assertEquals(3, c.built.size(), "bounded: FAST allows 3 attempts");
      assertEquals(3, seen.size());
      Set<String> nonces = new HashSet<>();
      seen.forEach(j -> nonces.add(j.getString("nonce")));
      assertEquals(3, nonces.size(), "every attempt carried a fresh nonce");
      assertEquals(2, client.retries());
    }
    Counting d = new Counting(Clock.systemUTC());
    try (KmsHttpClient client = client(FAST, 5_000, killed, real)) {
      KmsHttpClient.Answered<Bootstrapping.Pending> a = client.bootstrap(d::build).await();
      assertNotNull(d.b.finish(a.pending(), a.answer()));
      assertEquals(2, d.distinct().size());
    }
  }

  @Test
  void noByteOfAnswerWithinTheTimeout_isRetriedOnTheNextServer() throws Exception {
    AtomicInteger got = new AtomicInteger();
    URI silent = peer(req -> got.incrementAndGet()); // reads, never answers
    Counting c = new Counting(Clock.systemUTC());
    try (KmsHttpClient client = client(FAST, 300, silent, real)) {
      KmsHttpClient.Answered<Bootstrapping.Pending> a = client.bootstrap(c::build).await();
      assertNotNull(c.b.finish(a.pending(), a.answer()));
      assertEquals(1, got.get());
      assertEquals(2, c.distinct().size());
    }
    try (KmsHttpClient client = client(RetryPolicy.NONE, 300, silent)) {
      Throwable t = failure(client.bootstrap(c::build));
      assertInstanceOf(TimeoutException.class, t, t.toString());
    }
  }

  @Test
  void an503Answer_isNeverRetried() {
    AtomicInteger got = new AtomicInteger();
    URI busy = peer(req -> {
      got.incrementAndGet();
      req.response().setStatusCode(503).putHeader("content-type", "application/problem+json")
          .end(new JsonObject().put("code", "REPLAY_STORE_UNAVAILABLE").encode());
    });
    Counting c = new Counting(Clock.systemUTC());
    try (KmsHttpClient client = client(FAST, 5_000, busy, real)) {
      Throwable t = failure(client.bootstrap(c::build));
      KmsProblemException p = assertInstanceOf(KmsProblemException.class, t);
      assertEquals(503, p.status());
      assertEquals("REPLAY_STORE_UNAVAILABLE", p.code());
      assertEquals(1, got.get());
      assertEquals(1, c.built.size());
      assertEquals(0, client.retries());
    }
  }

  @Test
  void aRefusalByTheKms_isNeverRetried() {
    // An hour in the past: outside the replay window, refused with 4xx by the real KMS.
    Counting c = new Counting(Clock.fixed(Instant.now().minusSeconds(3600), ZoneOffset.UTC));
    try (KmsHttpClient client = client(FAST, 5_000, real)) {
      Throwable t = failure(client.bootstrap(c::build));
      KmsProblemException p = assertInstanceOf(KmsProblemException.class, t);
      assertTrue(p.status() >= 400 && p.status() < 500, p.getMessage());
      assertEquals(1, c.built.size());
      assertEquals(0, client.retries());
    }
  }

  @Test
  void bytesSentOnce_areNotRetried_butTheNextRequestGoesToTheNextServer() throws Exception {
    Counting c = new Counting(Clock.systemUTC());
    try (KmsHttpClient client = client(FAST, 5_000, nothingListening(), real)) {
      Throwable t = failure(client.bootstrap(c.build().requestBytes()));
      assertTrue(KmsHttpClient.isConnectionFailure(t), t.toString());
      assertEquals(0, client.retries());
      assertNotNull(client.bootstrap(c.build().requestBytes()).await());
    }
  }

  @Test
  void connectionFailures_areTellableFromLocalMistakes() {
    assertTrue(KmsHttpClient.isConnectionFailure(new ConnectException("refused")));
    assertTrue(KmsHttpClient.isConnectionFailure(new SSLHandshakeException("no")));
    assertTrue(KmsHttpClient.isConnectionFailure(new HttpClosedException("closed")));
    assertTrue(KmsHttpClient.isConnectionFailure(new TimeoutException("idle")));
    assertTrue(KmsHttpClient.isConnectionFailure(new IOException("Connection reset by peer")));
    assertTrue(KmsHttpClient.isConnectionFailure(
        new RuntimeException(new ConnectException("wrapped"))));
    assertFalse(KmsHttpClient.isConnectionFailure(new IllegalStateException("Client is closed")));
    assertFalse(KmsHttpClient.isConnectionFailure(new IllegalArgumentException("bad")));
  }

  @Test
  void serverLists_areParsed_andBadOnesRefused() {
    assertEquals(List.of(URI.create("https://a:1"), URI.create("https://b:2")),
        KmsHttpClient.parseServers(" https://a:1 , https://b:2,"));
    assertThrows(IllegalArgumentException.class, () -> KmsHttpClient.parseServers(""));
    assertThrows(IllegalArgumentException.class, () -> KmsHttpClient.parseServers("http://a:1"));
    assertThrows(IllegalArgumentException.class,
        () -> KmsHttpClient.parseServers("https://a:1/v1"));
    assertThrows(IllegalArgumentException.class, () -> KmsHttpClient.parseServers("https://"));
  }
}
