package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.MailboxClient;
import io.imskms.client.UeClient;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.Role;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.junit5.VertxExtension;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The malformed-input matrix, per protocol endpoint: every case gets its 4xx with a problem
 * document and a stable code, and after each case the server still serves a valid request.
 */
@ExtendWith(VertxExtension.class)
class MalformedInputTest {
  private static TestKms kms;
  private static Credential alice;
  private static Credential bob;
  private static Credential vmBob;
  private static JsonObject validBootstrap;
  private static JsonObject validKeyRequest;
  private static JsonObject validRetrieve;

  /** One protocol endpoint, a valid body for it, and fields to break. */
  record Endpoint(String name, String path, boolean mailbox, String b64Field,
      String otherField) {
    JsonObject valid() {
      switch (name) {
        case "bootstrap":
          return validBootstrap.copy();
        case "key-request":
          return validKeyRequest.copy();
        default:
          return validRetrieve.copy();
      }
    }

    WebClient client() {
      return mailbox ? kms.vmBob : kms.ue;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Endpoint> endpoints() {
    return Stream.of(
        new Endpoint("bootstrap", "/v1/bootstrap", false, "nonce", "credVersion"),
        new Endpoint("key-request", "/v1/deferred/key-request", true, "btidM", "idBm"),
        new Endpoint("retrieve", "/v1/deferred/retrieve", false, "ticket", "eb"));
  }

  @BeforeAll
  static void start() throws Exception {
    kms = TestKms.start(env -> env.put("KMS_HTTP_BODY_LIMIT_BYTES", "65536"));
    alice = kms.enrol(Role.UE, TestKms.ALICE);
    bob = kms.enrol(Role.UE, TestKms.BOB);
    vmBob = kms.enrol(Role.MAILBOX, TestKms.VM_BOB);
    validBootstrap = JsonMessages.toJson(
        BootstrapRequest.decode(kms.bootstrapping.start(alice).requestBytes()));
    ClientSession sa = kms.bootstrap(kms.ue, alice);
    ClientSession sm = kms.bootstrap(kms.vmBob, vmBob);
    UeClient.OutgoingOffer offer = kms.ueSdk.offer(sa, TestKms.BOB);
    MailboxClient.PendingKeyRequest kr = kms.mailboxSdk.keyRequest(sm, offer.offerBytes(), false);
    validKeyRequest = JsonMessages.toJson(MailboxKeyRequest.decode(kr.requestBytes()));
    HttpResponse<Buffer> granted = kms.post(kms.vmBob, "/v1/deferred/key-request",
        validKeyRequest);
    assertEquals(200, granted.statusCode(), granted.bodyAsString());
    MailboxClient.Grant grant = kms.mailboxSdk.openResponse(kr,
        JsonMessages.mailboxKeyResponse(granted.bodyAsJsonObject()).encode());
    ClientSession sb = kms.bootstrap(kms.ue, bob);
    UeClient.PendingRetrieval pr = kms.ueSdk.retrieval(sb, offer.offerBytes(), grant.ticket());
    validRetrieve = JsonMessages.toJson(
        io.imskms.protocol.RetrievalRequest.decode(pr.requestBytes()));
  }

  @AfterAll
  static void stop() {
    kms.close();
  }

  /** After every case: a fresh, valid bootstrap is served. */
  @AfterEach
  void serverStillServes() throws Exception {
    assertTrue(kms.bootstrap(kms.ue, alice) != null);
  }

  private static HttpResponse<Buffer> send(Endpoint e, String contentType, Buffer body) {
    var req = e.client().post(e.path());
    if (contentType != null) {
      req.putHeader("content-type", contentType);
    }
    return (body == null ? req.send() : req.sendBuffer(body)).await();
  }

  private static HttpResponse<Buffer> sendJson(Endpoint e, JsonObject body) {
    return send(e, "application/json", body.toBuffer());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void invalidJson_is400InvalidJson(Endpoint e) {
    assertProblem(send(e, "application/json", Buffer.buffer("{\"id\": ")), 400, "INVALID_JSON");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void jsonArrayInsteadOfObject_is400SchemaViolation(Endpoint e) {
    assertProblem(send(e, "application/json", Buffer.buffer("[1,2]")), 400, "SCHEMA_VIOLATION");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void wrongType_is400SchemaViolationWithPointer(Endpoint e) {
    JsonObject p = assertProblem(sendJson(e, e.valid().put(e.b64Field(), 12345)), 400,
        "SCHEMA_VIOLATION");
    assertEquals("/" + e.b64Field(), p.getString("pointer"));
    assertProblem(sendJson(e, e.valid().put(e.otherField(), true)), 400, "SCHEMA_VIOLATION");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void missingField_is400SchemaViolation(Endpoint e) {
    JsonObject body = e.valid();
    body.remove(e.b64Field());
    assertProblem(sendJson(e, body), 400, "SCHEMA_VIOLATION");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void extraField_is400SchemaViolation(Endpoint e) {
    assertProblem(sendJson(e, e.valid().put("debug", "yes")), 400, "SCHEMA_VIOLATION");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void badBase64_is400BadBase64(Endpoint e) {
    String good = e.valid().getString(e.b64Field());
    String notBase64url = "+/" + good.substring(2);
    JsonObject p = assertProblem(sendJson(e, e.valid().put(e.b64Field(), notBase64url)), 400,
        "BAD_BASE64");
    assertEquals("/" + e.b64Field(), p.getString("pointer"));
    String padded = good.substring(0, good.length() - (good.length() % 4)) + "AA==";
    assertProblem(sendJson(e, e.valid().put(e.b64Field(), padded)), 400, "BAD_BASE64");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void wellFormedJsonButNotAProtocolMessage_is400Malformed(Endpoint e) {
    // Right shape and alphabet, wrong bytes: refused by the protocol codec, not a 500.
    String field = e.name().equals("bootstrap") ? "id" : e.b64Field();
    String value = e.name().equals("bootstrap") ? "sip:Alice@IMS.example.com"
        : "AAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    JsonObject p = assertProblem(sendJson(e, e.valid().put(field, value)), 400, "MALFORMED");
    assertEquals(e.path(), p.getString("instance"));
  }

  @org.junit.jupiter.api.Test
  void unknownPath_problemHasNoInstance_andEchoesNoRequestBytes() {
    HttpResponse<Buffer> r = kms.ue.get("/v1/evil%22%3Cscript%3E/x").send().await();
    JsonObject p = assertProblem(r, 404, "NOT_FOUND");
    assertTrue(!p.containsKey("instance"), p.encode());
    assertTrue(!r.bodyAsString().contains("evil") && !r.bodyAsString().contains("script"),
        r.bodyAsString());
  }

  @org.junit.jupiter.api.Test
  void knownRouteSpelledDifferently_instanceIsTheRouteTemplate_notTheRawPath() {
    HttpResponse<Buffer> r = kms.ue.post("/v1/evil/../bootstrap")
        .putHeader("content-type", "application/json").sendBuffer(Buffer.buffer("{\"id\": "))
        .await();
    JsonObject p = assertProblem(r, 400, "INVALID_JSON");
    assertEquals("/v1/bootstrap", p.getString("instance"));
    assertTrue(!r.bodyAsString().contains("evil"), r.bodyAsString());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void wrongContentType_is415(Endpoint e) {
    assertProblem(send(e, "text/plain", e.valid().toBuffer()), 415, "UNSUPPORTED_MEDIA_TYPE");
    assertProblem(send(e, "application/xml", Buffer.buffer("<a/>")), 415,
        "UNSUPPORTED_MEDIA_TYPE");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void emptyBody_is400MissingBody(Endpoint e) {
    assertProblem(send(e, "application/json", null), 400, "MISSING_BODY");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void oversizeBody_is413(Endpoint e) {
    JsonObject body = e.valid().put("padding", "x".repeat(70 * 1024));
    assertProblem(sendJson(e, body), 413, "BODY_TOO_LARGE");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void slowBody_is408(Endpoint e) throws Exception {
    byte[] body = e.valid().toBuffer().getBytes();
    String answer = raw(e.path(), body.length, new byte[][] {
        java.util.Arrays.copyOf(body, 10)}, 3_000);
    assertTrue(answer.startsWith("HTTP/1.1 408"), answer);
    assertTrue(answer.contains("\"code\":\"REQUEST_TIMEOUT\""), answer);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("endpoints")
  void truncatedBody_is408(Endpoint e) throws Exception {
    byte[] body = e.valid().toBuffer().getBytes();
    // Declares more than it sends: the body never completes.
    String answer = raw(e.path(), body.length + 100, new byte[][] {body}, 0);
    assertTrue(answer.startsWith("HTTP/1.1 408"), answer);
    assertTrue(answer.contains("application/problem+json"), answer);
  }

  /**
   * Sends a request by hand over TLS: the headers with {@code contentLength}, then each chunk,
   * pausing {@code pauseMs} after each; returns everything the server answers before closing.
   */
  private static String raw(String path, int contentLength, byte[][] chunks, long pauseMs)
      throws Exception {
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    try (InputStream in = Files.newInputStream(kms.app.devTls().caCert())) {
      trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509")
          .generateCertificate(in));
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
    tmf.init(trust);
    SSLContext ctx = SSLContext.getInstance("TLSv1.3");
    ctx.init(null, tmf.getTrustManagers(), null);
    try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1",
        kms.app.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(("POST " + path + " HTTP/1.1\r\nHost: localhost\r\n"
          + "Content-Type: application/json\r\nContent-Length: " + contentLength + "\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      for (byte[] c : chunks) {
        out.write(c);
        out.flush();
        Thread.sleep(pauseMs);
      }
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[4096];
      try {
        for (int n; (n = in.read(buf)) > 0; ) {
          got.write(buf, 0, n);
        }
      } catch (SocketTimeoutException | javax.net.ssl.SSLException ignored) {
        // The server closes after its 408; what arrived before is the answer.
      }
      return got.toString(StandardCharsets.UTF_8);
    }
  }
}
