package io.imskms.api;

import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.BootstrapResponse;
import io.imskms.protocol.Identity;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.MailboxKeyResponse;
import io.imskms.protocol.ProtocolException;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.RetrievalResponse;
import io.imskms.protocol.Role;
import io.vertx.core.json.JsonObject;
import java.util.Base64;
import java.util.Locale;

/**
 * The JSON form of the protocol messages (docs/api.md): one member per field of the binary
 * message, binary fields as unpadded base64url. The shape has already been checked against
 * docs/openapi.yaml when these run; what remains is base64 decoding and the protocol's own
 * encoding rules (identity normal form, field lengths), each reported as a client error.
 */
final class JsonMessages {
  private static final Base64.Decoder B64 = Base64.getUrlDecoder();
  private static final Base64.Encoder B64_OUT = Base64.getUrlEncoder().withoutPadding();

  private JsonMessages() {}

  static BootstrapRequest bootstrapRequest(JsonObject j) throws ApiFailure, ProtocolException {
    Role role = "mailbox".equals(j.getString("role")) ? Role.MAILBOX : Role.UE;
    BootstrapRequest r = new BootstrapRequest(role, identity(j, "id"),
        j.getInteger("credVersion"), bytes(j, "nonce"), j.getLong("timestamp"),
        bytes(j, "proof"), j.getInteger("generation", 0));
    return encodable(r, r::encode);
  }

  static JsonObject toJson(BootstrapRequest r) {
    JsonObject j = new JsonObject().put("role", r.role().name().toLowerCase(Locale.ROOT))
        .put("id", r.id()).put("credVersion", r.credVersion()).put("nonce", b64(r.nonce()))
        .put("timestamp", r.timestampMs()).put("proof", b64(r.proof()));
    return r.generation() == 0 ? j : j.put("generation", r.generation());
  }

  static JsonObject toJson(BootstrapResponse r) {
    return new JsonObject().put("btid", b64(r.btid())).put("autn", b64(r.autn()));
  }

  static BootstrapResponse bootstrapResponse(JsonObject j) throws ApiFailure {
    return new BootstrapResponse(bytes(j, "btid"), bytes(j, "autn"));
  }

  static MailboxKeyRequest mailboxKeyRequest(JsonObject j) throws ApiFailure, ProtocolException {
    MailboxKeyRequest r = new MailboxKeyRequest(j.getBoolean("e2m", false), identity(j, "idBm"),
        bytes(j, "btidM"), bytes(j, "offer"), bytes(j, "iv"), bytes(j, "em"));
    return encodable(r, r::encode);
  }

  static JsonObject toJson(MailboxKeyRequest r) {
    return new JsonObject().put("idBm", r.idBm()).put("btidM", b64(r.btidM()))
        .put("offer", b64(r.offer())).put("e2m", r.wantE2m()).put("iv", b64(r.iv()))
        .put("em", b64(r.ciphertext()));
  }

  static JsonObject toJson(MailboxKeyResponse r) {
    JsonObject j = new JsonObject().put("delivery", b64(r.delivery()))
        .put("ticket", b64(r.ticket()));
    if (r.wrappedKe2m() != null) {
      j.put("wrappedKe2m", b64(r.wrappedKe2m()));
    }
    return j.put("mac", b64(r.mac()));
  }

  static MailboxKeyResponse mailboxKeyResponse(JsonObject j) throws ApiFailure {
    return new MailboxKeyResponse(bytes(j, "delivery"), bytes(j, "ticket"),
        j.containsKey("wrappedKe2m") ? bytes(j, "wrappedKe2m") : null, bytes(j, "mac"));
  }

  static RetrievalRequest retrievalRequest(JsonObject j) throws ApiFailure, ProtocolException {
    RetrievalRequest r = new RetrievalRequest(bytes(j, "btidB"), bytes(j, "offer"),
        bytes(j, "ticket"), bytes(j, "iv"), bytes(j, "eb"));
    return encodable(r, r::encode);
  }

  static JsonObject toJson(RetrievalRequest r) {
    return new JsonObject().put("btidB", b64(r.btidB())).put("offer", b64(r.offer()))
        .put("ticket", b64(r.ticket())).put("iv", b64(r.iv())).put("eb", b64(r.ciphertext()));
  }

  static JsonObject toJson(RetrievalResponse r) {
    return new JsonObject().put("wrappedK", b64(r.wrappedK()));
  }

  static RetrievalResponse retrievalResponse(JsonObject j) throws ApiFailure {
    return new RetrievalResponse(bytes(j, "wrappedK"));
  }

  static String b64(byte[] b) {
    return B64_OUT.encodeToString(b);
  }

  private static byte[] bytes(JsonObject j, String field) throws ApiFailure {
    String s = j.getString(field);
    if (s == null || s.indexOf('=') >= 0) {
      throw new ApiFailure(Failure.BAD_BASE64, "/" + field);
    }
    try {
      return B64.decode(s);
    } catch (IllegalArgumentException e) {
      throw new ApiFailure(Failure.BAD_BASE64, "/" + field);
    }
  }

  private static String identity(JsonObject j, String field) throws ProtocolException {
    return Identity.requireNormal(j.getString(field));
  }

  /** Refuses a message the protocol cannot encode (a field over its documented length). */
  private static <T> T encodable(T message, Runnable encode) throws ApiFailure {
    try {
      encode.run();
      return message;
    } catch (IllegalArgumentException e) {
      throw new ApiFailure(Failure.MALFORMED);
    }
  }
}
