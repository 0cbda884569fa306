package io.imskms.mailbox;

import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.BootstrapResponse;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.MailboxKeyResponse;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.RetrievalResponse;
import io.imskms.protocol.Role;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.net.URI;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Objects;
import java.util.Set;

/**
 * The JSON/HTTPS binding of the client SDK (docs/api.md): takes the binary protocol messages the
 * SDK builds ({@code io.imskms.client}), sends them to the KMS as JSON with unpadded base64url
 * fields, and returns the binary answer for the SDK to check. A refusal is a
 * {@link KmsProblemException} with the problem's status and code.
 *
 * <p>TLS 1.3 only, the server verified against the given CA and host name; with a client
 * certificate when the caller is a mailbox (seed step 1m: the KMS requires mutual TLS on mailbox
 * routes and compares the certificate's identity with the mailbox named in the request).
 */
public final class KmsHttpClient implements AutoCloseable {
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64_IN = Base64.getUrlDecoder();

  private final WebClient web;

  private KmsHttpClient(WebClient web) {
    this.web = web;
  }

  /**
   * A client of the KMS at {@code server} (https://host:port).
   *
   * @param caCert PEM CA certificate that issued the KMS's server certificate
   * @param clientCert PEM client certificate (a mailbox), or null (a UE)
   * @param clientKey its PKCS#8 PEM key, or null
   */
  public static KmsHttpClient create(Vertx vertx, URI server, Path caCert, Path clientCert,
      Path clientKey) {
    Objects.requireNonNull(server, "server");
    if (!"https".equalsIgnoreCase(server.getScheme()) || server.getHost() == null) {
      throw new IllegalArgumentException("the KMS URL must be https://host[:port]");
    }
    WebClientOptions o = new WebClientOptions()
        .setSsl(true)
        .setVerifyHost(true)
        .setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
        .setTrustOptions(new PemTrustOptions().addCertPath(caCert.toString()))
        .setDefaultHost(server.getHost())
        .setDefaultPort(server.getPort() < 0 ? 443 : server.getPort())
        .setConnectTimeout(5_000)
        .setUserAgent("imskms-reference-client");
    if (clientCert != null) {
      o.setKeyCertOptions(new PemKeyCertOptions().setCertPath(clientCert.toString())
          .setKeyPath(clientKey.toString()));
    }
    return new KmsHttpClient(WebClient.create(vertx, o));
  }

  /** Steps 1a/1b/1m: POST /v1/bootstrap; returns the encoded {@code BootstrapResponse}. */
  public Future<byte[]> bootstrap(byte[] request) {
    BootstrapRequest r;
    try {
      r = BootstrapRequest.decode(request);
    } catch (ProtocolException e) {
      return Future.failedFuture(e);
    }
    JsonObject j = new JsonObject().put("role", r.role() == Role.MAILBOX ? "mailbox" : "ue")
        .put("id", r.id()).put("credVersion", r.credVersion()).put("nonce", b64(r.nonce()))
        .put("timestamp", r.timestampMs()).put("proof", b64(r.proof()));
    return post("/v1/bootstrap", j)
        .map(a -> new BootstrapResponse(bytes(a, "btid"), bytes(a, "autn")).encode());
  }

  /** Figure 17 steps 4–6 (and 19): POST /v1/deferred/key-request; the encoded response. */
  public Future<byte[]> mailboxKeyRequest(byte[] request) {
    MailboxKeyRequest r;
    try {
      r = MailboxKeyRequest.decode(request);
    } catch (ProtocolException e) {
      return Future.failedFuture(e);
    }
    JsonObject j = new JsonObject().put("idBm", r.idBm()).put("btidM", b64(r.btidM()))
        .put("offer", b64(r.offer())).put("e2m", r.wantE2m()).put("iv", b64(r.iv()))
        .put("em", b64(r.ciphertext()));
    return post("/v1/deferred/key-request", j)
        .map(a -> new MailboxKeyResponse(bytes(a, "delivery"), bytes(a, "ticket"),
            a.containsKey("wrappedKe2m") ? bytes(a, "wrappedKe2m") : null, bytes(a, "mac"))
            .encode());
  }

  /** Figure 18 steps 4–6: POST /v1/deferred/retrieve; the encoded response. */
  public Future<byte[]> retrieve(byte[] request) {
    RetrievalRequest r;
    try {
      r = RetrievalRequest.decode(request);
    } catch (ProtocolException e) {
      return Future.failedFuture(e);
    }
    return retrieve(r);
  }

  /**
   * POST /v1/deferred/retrieve of a request built by hand (the demo's dishonest mailbox uses this
   * with its own B-TID).
   */
  public Future<byte[]> retrieve(RetrievalRequest r) {
    JsonObject j = new JsonObject().put("btidB", b64(r.btidB())).put("offer", b64(r.offer()))
        .put("ticket", b64(r.ticket())).put("iv", b64(r.iv())).put("eb", b64(r.ciphertext()));
    return post("/v1/deferred/retrieve", j)
        .map(a -> new RetrievalResponse(bytes(a, "wrappedK")).encode());
  }

  /** GET /health/ready: true when the KMS answers 200. */
  public Future<Boolean> ready() {
    return web.get("/health/ready").send().map(r -> r.statusCode() == 200);
  }

  private Future<JsonObject> post(String path, JsonObject body) {
    return web.post(path).putHeader("content-type", "application/json")
        .sendBuffer(body.toBuffer())
        .compose(KmsHttpClient::answer);
  }

  private static Future<JsonObject> answer(HttpResponse<Buffer> r) {
    JsonObject json;
    try {
      json = r.body() == null ? new JsonObject() : r.bodyAsJsonObject();
    } catch (DecodeException | ClassCastException e) {
      json = new JsonObject();
    }
    if (r.statusCode() != 200) {
      String code = json.getValue("code") instanceof String s ? s : "UNKNOWN";
      String id = r.getHeader("X-Request-Id");
      return Future.failedFuture(new KmsProblemException(r.statusCode(), code, id));
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
    web.close();
  }
}
