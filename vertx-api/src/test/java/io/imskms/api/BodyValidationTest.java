package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.validation.RequestValidator;
import io.vertx.openapi.validation.ValidatedRequest;
import io.vertx.openapi.validation.ValidatorException;
import io.vertx.openapi.validation.impl.RequestParameterImpl;
import io.vertx.openapi.validation.impl.ValidatableRequestImpl;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link BodyValidation} refuses exactly what vertx-openapi's own request validator (what the
 * RouterBuilder ran per request before) refuses, with the same exception, type, message and JSON
 * pointer, so {@link Problems} gives the same code, status and pointer; and accepts the same
 * bodies with the same parsed value. Run against docs/openapi.yaml for the three protocol
 * operations, over a matrix of content types and bodies. Every mismatch is collected; one
 * assertion at the end shows them all.
 */
class BodyValidationTest {
  private static Vertx vertx;
  private static OpenAPIContract contract;
  private static RequestValidator reference;

  @BeforeAll
  static void load() {
    vertx = Vertx.vertx();
    contract = OpenAPIContract.from(vertx, OpenApiDocument.load().forValidator()).await();
    reference = RequestValidator.create(vertx, contract);
  }

  @AfterAll
  static void close() {
    vertx.close().await();
  }

  private static String b64(int chars) {
    return "A".repeat(chars);
  }

  static JsonObject valid(String operationId) {
    switch (operationId) {
      case "bootstrap":
        return new JsonObject().put("role", "ue").put("id", "sip:alice@ims.example.com")
            .put("credVersion", 1).put("nonce", b64(22)).put("timestamp", 1_700_000_000_000L)
            .put("proof", b64(43));
      case "mailboxKeyRequest":
        return new JsonObject().put("idBm", "sip:vm.bob@ims.example.com").put("btidM", b64(64))
            .put("offer", b64(200)).put("iv", b64(16)).put("em", b64(64));
      case "retrieve":
        return new JsonObject().put("btidB", b64(64)).put("offer", b64(200))
            .put("ticket", b64(120)).put("iv", b64(16)).put("eb", b64(64));
      default:
        throw new IllegalArgumentException(operationId);
    }
  }

  /** A field of the operation holding base64url, and one required field of another type. */
  private static String b64Field(String op) {
    return op.equals("bootstrap") ? "nonce" : "iv";
  }

  record Case(String name, String contentType, Buffer body, String expectedCode) {}

  private static List<Case> cases(String op) {
    JsonObject v = valid(op);
    String b = b64Field(op);
    String firstRequired = v.fieldNames().iterator().next();
    JsonObject missing = v.copy();
    missing.remove(firstRequired);
    StringBuilder deep = new StringBuilder();
    for (int i = 0; i < 3000; i++) {
      deep.append('[');
    }
    List<Case> c = new ArrayList<>();
    c.add(new Case("valid", "application/json", v.toBuffer(), null));
    c.add(new Case("valid, charset", "application/json; charset=utf-8", v.toBuffer(), null));
    c.add(new Case("valid, charset no space", "application/json;charset=UTF-8", v.toBuffer(),
        null));
    c.add(new Case("no content type", null, v.toBuffer(), "UNSUPPORTED_MEDIA_TYPE"));
    c.add(new Case("text/plain", "text/plain", v.toBuffer(), "UNSUPPORTED_MEDIA_TYPE"));
    c.add(new Case("xml", "application/xml", Buffer.buffer("<a/>"), "UNSUPPORTED_MEDIA_TYPE"));
    // vertx-openapi matches media types case-sensitively: refused before, refused now.
    c.add(new Case("upper-case type", "Application/JSON", v.toBuffer(),
        "UNSUPPORTED_MEDIA_TYPE"));
    c.add(new Case("multipart", "multipart/form-data; boundary=x", v.toBuffer(),
        "UNSUPPORTED_MEDIA_TYPE"));
    c.add(new Case("no body", "application/json", null, "MISSING_BODY"));
    c.add(new Case("empty body", "application/json", Buffer.buffer(), "MISSING_BODY"));
    c.add(new Case("empty body, no type", null, Buffer.buffer(), "MISSING_BODY"));
    c.add(new Case("truncated json", "application/json", Buffer.buffer("{\"id\": "),
        "INVALID_JSON"));
    c.add(new Case("not json", "application/json", Buffer.buffer("hello"), "INVALID_JSON"));
    // Jackson's nesting limit: a parse error, not a stack overflow.
    c.add(new Case("deep nesting", "application/json", Buffer.buffer(deep.toString()),
        "INVALID_JSON"));
    c.add(new Case("array", "application/json", Buffer.buffer("[1,2]"), "SCHEMA_VIOLATION"));
    c.add(new Case("null", "application/json", Buffer.buffer("null"), "SCHEMA_VIOLATION"));
    c.add(new Case("number", "application/json", Buffer.buffer("1"), "SCHEMA_VIOLATION"));
    c.add(new Case("string", "application/json", Buffer.buffer("\"x\""), "SCHEMA_VIOLATION"));
    c.add(new Case("empty object", "application/json", Buffer.buffer("{}"),
        "SCHEMA_VIOLATION"));
    c.add(new Case("extra field", "application/json", v.copy().put("debug", "yes").toBuffer(),
        "SCHEMA_VIOLATION"));
    c.add(new Case("missing " + firstRequired, "application/json", missing.toBuffer(),
        "SCHEMA_VIOLATION"));
    c.add(new Case("wrong type", "application/json", v.copy().put(b, 7).toBuffer(),
        "SCHEMA_VIOLATION"));
    c.add(new Case("array member", "application/json", v.copy().put(b, new JsonArray())
        .toBuffer(), "SCHEMA_VIOLATION"));
    c.add(new Case("padded b64", "application/json", v.copy().put(b, b64(20) + "==").toBuffer(),
        "BAD_BASE64"));
    c.add(new Case("b64 wrong alphabet", "application/json",
        v.copy().put(b, b64(20) + "+/").toBuffer(), "BAD_BASE64"));
    c.add(new Case("b64 too long", "application/json", v.copy().put(b, b64(400)).toBuffer(),
        "BAD_BASE64"));
    c.add(new Case("b64 too short", "application/json", v.copy().put(b, b64(2)).toBuffer(),
        "BAD_BASE64"));
    // Accepted before and now (the last value wins); the protocol codec sees one value.
    c.add(new Case("duplicate key", "application/json",
        Buffer.buffer(v.encode().replaceFirst("\\{", "{\"" + b + "\":\"AA\",")), null));
    switch (op) {
      case "bootstrap":
        c.add(new Case("role not in enum", "application/json",
            v.copy().put("role", "admin").toBuffer(), "SCHEMA_VIOLATION"));
        c.add(new Case("credVersion 0", "application/json",
            v.copy().put("credVersion", 0).toBuffer(), "SCHEMA_VIOLATION"));
        c.add(new Case("identity without scheme", "application/json",
            v.copy().put("id", "alice@ims.example.com").toBuffer(), "SCHEMA_VIOLATION"));
        c.add(new Case("negative timestamp", "application/json",
            v.copy().put("timestamp", -1).toBuffer(), "SCHEMA_VIOLATION"));
        break;
      case "mailboxKeyRequest":
        c.add(new Case("e2m not boolean", "application/json",
            v.copy().put("e2m", "yes").toBuffer(), "SCHEMA_VIOLATION"));
        c.add(new Case("e2m true", "application/json", v.copy().put("e2m", true).toBuffer(),
            null));
        c.add(new Case("identity too long", "application/json",
            v.copy().put("idBm", "sip:" + "a".repeat(300)).toBuffer(), "SCHEMA_VIOLATION"));
        break;
      default:
        c.add(new Case("ticket too long", "application/json",
            v.copy().put("ticket", b64(1367)).toBuffer(), "BAD_BASE64"));
        break;
    }
    return c;
  }

  /** What one validator did with one request: the client's answer and the exception's shape. */
  record Outcome(Problems.Classified answer, String exception, String type, String message,
      Object body) {}

  private static Outcome outcome(ValidatedRequest accepted, Throwable refused) {
    if (refused != null) {
      String type = refused instanceof ValidatorException
          ? String.valueOf(((ValidatorException) refused).type()) : null;
      return new Outcome(Problems.classify(refused, -1), refused.getClass().getName(), type,
          refused.getMessage(), null);
    }
    return new Outcome(null, null, null, null, accepted.getBody().get());
  }

  private static Outcome before(String op, String contentType, Buffer body) {
    ValidatableRequestImpl req = new ValidatableRequestImpl(new HashMap<>(), new HashMap<>(),
        new HashMap<>(), new HashMap<>(), new RequestParameterImpl(body), contentType);
    try {
      return outcome(reference.validate(req, op).await(), null);
    } catch (Throwable t) {
      return outcome(null, t);
    }
  }

  private static Outcome after(BodyValidation v, String contentType, Buffer body) {
    try {
      return outcome(v.validate(contentType, body), null);
    } catch (RuntimeException e) {
      return outcome(null, e);
    }
  }

  @Test
  void protocolOperations_refuseAndAcceptExactlyAsTheRouterBuildersValidator() {
    List<String> mismatches = new ArrayList<>();
    Map<String, Integer> checked = new HashMap<>();
    for (String op : List.of("bootstrap", "mailboxKeyRequest", "retrieve")) {
      assertTrue(BodyValidation.supports(contract.operation(op)), op);
      BodyValidation v = new BodyValidation(contract, contract.operation(op));
      for (Case c : cases(op)) {
        Outcome was = before(op, c.contentType(), c.body());
        Outcome is = after(v, c.contentType(), c.body());
        String code = is.answer() == null ? null : is.answer().failure().name();
        if (!was.equals(is)) {
          mismatches.add(op + " / " + c.name() + ": before " + was + ", now " + is);
        } else if (c.expectedCode() != null && !c.expectedCode().equals(code)) {
          mismatches.add(op + " / " + c.name() + ": code " + code + ", expected "
              + c.expectedCode());
        } else if (c.expectedCode() == null && code != null) {
          mismatches.add(op + " / " + c.name() + ": refused with " + code);
        }
        checked.merge(op, 1, Integer::sum);
      }
    }
    assertEquals(List.of(), mismatches);
    assertEquals(3, checked.size());
  }

  @Test
  void schemaViolation_namesTheMember_asBefore() {
    BodyValidation v = new BodyValidation(contract, contract.operation("retrieve"));
    Outcome is = after(v, "application/json", valid("retrieve").put("iv", 7).toBuffer());
    assertEquals(Failure.SCHEMA_VIOLATION, is.answer().failure());
    assertEquals("/iv", is.answer().pointer());
    Outcome padded = after(v, "application/json",
        valid("retrieve").put("ticket", b64(20) + "==").toBuffer());
    assertEquals(Failure.BAD_BASE64, padded.answer().failure());
    assertEquals("/ticket", padded.answer().pointer());
  }

  @Test
  void acceptedBody_isTheParsedObjectTheHandlersRead() {
    BodyValidation v = new BodyValidation(contract, contract.operation("mailboxKeyRequest"));
    JsonObject body = valid("mailboxKeyRequest");
    ValidatedRequest r = v.validate("application/json", body.toBuffer());
    assertEquals(body, r.getBody().getJsonObject());
    assertNotNull(r.getQuery());
    assertNull(outcome(r, null).answer());
  }
}
