package io.imskms.mailbox;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.TrustOptions;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;

/** A UE's view of the {@link ReferenceMailbox} HTTP API (HTTPS, TLS 1.3). */
public final class ReferenceMailboxClient implements AutoCloseable {
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64_IN = Base64.getUrlDecoder();

  /** The answer to a deposit: where the message is stored and UE-A's delivery (step 7). */
  public record Deposit(String messageId, byte[] delivery) {}

  /** A stored message as UE-B receives it (Figure 18 step 3). */
  public record Stored(String messageId, String from, String to, byte[] offer, byte[] ticket) {}

  /** A line of the message list (Figure 18 step 2). */
  public record Listed(String messageId, String from, boolean hasMedia) {}

  /** The mailbox refused: its HTTP status and code. */
  public static final class MailboxException extends Exception {
    private final int status;
    private final String code;

    MailboxException(int status, JsonObject body) {
      super("mailbox answered " + status + " " + body.getString("code", "UNKNOWN")
          + (body.containsKey("kmsCode") ? " (KMS: " + body.getValue("kmsStatus") + " "
          + body.getString("kmsCode") + ")" : ""));
      this.status = status;
      this.code = body.getString("code", "UNKNOWN");
    }

    public int status() {
      return status;
    }

    public String code() {
      return code;
    }
  }

  private final WebClient web;

  public ReferenceMailboxClient(Vertx vertx, String host, int port, TrustOptions trust) {
    this.web = WebClient.create(vertx, new WebClientOptions().setSsl(true).setVerifyHost(true)
        .setEnabledSecureTransportProtocols(Set.of("TLSv1.3")).setTrustOptions(trust)
        .setDefaultHost(host).setDefaultPort(port));
  }

  /** UE-A's INVITE reaches the mailbox with the offer (Figure 17 step 3). */
  public Future<Deposit> deposit(byte[] offer) {
    return web.post("/mailbox/v1/deposit").putHeader("content-type", "application/json")
        .sendBuffer(new JsonObject().put("offer", B64.encodeToString(offer)).toBuffer())
        .compose(ReferenceMailboxClient::json)
        .map(j -> new Deposit(j.getString("messageId"), B64_IN.decode(j.getString("delivery"))));
  }

  /** UE-A uploads the media container with its Ke2m tag; returns the mailbox's ack (Fig 19). */
  public Future<byte[]> upload(String messageId, byte[] container, byte[] tag) {
    return web.put("/mailbox/v1/messages/" + messageId + "/media")
        .putHeader("content-type", "application/octet-stream")
        .putHeader("X-Upload-Tag", B64.encodeToString(tag))
        .sendBuffer(Buffer.buffer(container))
        .compose(ReferenceMailboxClient::json)
        .map(j -> B64_IN.decode(j.getString("ack")));
  }

  /** UE-B asks for its deferred messages (Figure 18 step 2). */
  public Future<List<Listed>> list(String user) {
    return web.get("/mailbox/v1/messages").addQueryParam("for", user).send()
        .compose(ReferenceMailboxClient::json)
        .map(j -> {
          List<Listed> out = new ArrayList<>();
          j.getJsonArray("messages").forEach(o -> {
            JsonObject m = (JsonObject) o;
            out.add(new Listed(m.getString("messageId"), m.getString("from"),
                m.getBoolean("hasMedia")));
          });
          return out;
        });
  }

  /** UE-B gets the offer and ticket of a message (Figure 18 step 3). */
  public Future<Stored> fetch(String messageId) {
    return web.get("/mailbox/v1/messages/" + messageId).send()
        .compose(ReferenceMailboxClient::json)
        .map(j -> new Stored(j.getString("messageId"), j.getString("from"), j.getString("to"),
            B64_IN.decode(j.getString("offer")), B64_IN.decode(j.getString("ticket"))));
  }

  /** The media container of a message. */
  public Future<byte[]> media(String messageId) {
    return web.get("/mailbox/v1/messages/" + messageId + "/media").send().compose(r ->
        r.statusCode() == 200 ? Future.succeededFuture(r.body().getBytes())
            : Future.failedFuture(new MailboxException(r.statusCode(), body(r))));
  }

  private static Future<JsonObject> json(HttpResponse<Buffer> r) {
    JsonObject j = body(r);
    return r.statusCode() == 200 ? Future.succeededFuture(j)
        : Future.failedFuture(new MailboxException(r.statusCode(), j));
  }

  private static JsonObject body(HttpResponse<Buffer> r) {
    try {
      return r.body() == null ? new JsonObject() : r.bodyAsJsonObject();
    } catch (RuntimeException e) {
      return new JsonObject();
    }
  }

  @Override
  public void close() {
    web.close();
  }
}
