package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.imskms.client.ClientSession;
import io.imskms.fuzz.FuzzBudget;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.RetrievalRequest;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Fuzzing of the HTTPS API against a real server ({@link KmsApplication} as an operator starts
 * it, real TLS 1.3, a real SoftHSM2 token, kms-core's service). Budget and seed: {@link
 * FuzzBudget}. Properties:
 *
 * <ul>
 *   <li>any body (random JSON of the contract's member names with values of every type, JSON of
 *       other shapes, bytes), with any content type, to every route, from a UE and from a
 *       mailbox: an answer within the timeout, never 5xx, and exactly one of the status/code
 *       pairs of docs/api.md's table (read from the file), in a problem document that reveals
 *       nothing ({@code Problem.assertProblem});
 *   <li>a genuine request with one member mutated (bits flipped, bytes replaced, truncated,
 *       extended, spliced from another request): refused, with one of the codes docs/protocol.md
 *       §9.1 and docs/api.md document for that member;
 *   <li>afterwards a genuine flow still works and no session object is left on the token.
 * </ul>
 */
@AddLifecycleHook(FuzzBudget.class)
class HttpsFuzzTest {
  private static final String BOOTSTRAP = "/v1/bootstrap";
  private static final String KEY_REQUEST = "/v1/deferred/key-request";
  private static final String RETRIEVE = "/v1/deferred/retrieve";
  /** A request that takes longer than this counts as a hang. */
  private static final long TIMEOUT_MS = 10_000;

  private static TestKms kms;
  private static TestKms.Principals p;
  private static Map<String, Integer> documented;
  private static long sessionObjectsAtStart;
  private static ClientSession sa;
  private static ClientSession sb;
  private static ClientSession sm;
  private static TestKms.Delivery stored;
  private static final AtomicInteger REQUESTS = new AtomicInteger();

  @BeforeContainer
  static void start() throws Exception {
    documented = documentedProblems();
    kms = TestKms.start(env -> env.put("KMS_CORE_REPLAY_WINDOW_SECONDS", "600"));
    p = kms.enrolAll();
    sessionObjectsAtStart = kms.leftoverSessionObjects();
    sa = kms.bootstrap(kms.ue, p.alice());
    sb = kms.bootstrap(kms.ue, p.bob());
    sm = kms.bootstrap(kms.vmBob, p.vmBob());
    stored = kms.deliver(p, false);
  }

  @AfterContainer
  static void stop() throws Exception {
    if (kms == null) {
      return;
    }
    try {
      TestKms.Delivery d = kms.deliver(p, true);
      assertTrue(kms.retrieve(p, d).equals(d.kAtA()), "a genuine flow after the fuzzing");
      assertEquals(sessionObjectsAtStart, kms.leftoverSessionObjects(),
          "session objects left on the token (other than the shared keys)");
      System.out.println("fuzz: HttpsFuzzTest sent " + REQUESTS.get() + " HTTPS requests");
    } finally {
      kms.close();
    }
  }

  /** The status of every problem code in docs/api.md's table ("| 400 | `CODE` | ..."). */
  static Map<String, Integer> documentedProblems() throws IOException {
    Path root = Path.of(System.getProperty("basedir", ".")).toAbsolutePath().getParent();
    String api = Files.readString(root.resolve("docs/api.md"));
    Map<String, Integer> out = new HashMap<>();
    Matcher m = Pattern.compile("(?m)^\\| (\\d{3}) \\| `([A-Z0-9_]+)` \\|").matcher(api);
    while (m.find()) {
      out.put(m.group(2), Integer.parseInt(m.group(1)));
    }
    assertTrue(out.size() > 20, "docs/api.md's problem table was not found");
    return out;
  }

  // ---- sending and checking ----

  private record Answer(int status, String code, JsonObject body) {}

  private static Answer send(WebClient client, String path, String contentType, Buffer body) {
    REQUESTS.incrementAndGet();
    HttpRequest<Buffer> req = client.post(path).timeout(TIMEOUT_MS);
    if (contentType != null) {
      req.putHeader("content-type", contentType);
    }
    HttpResponse<Buffer> r;
    try {
      r = req.sendBuffer(body).await();
    } catch (RuntimeException e) {
      throw new AssertionError("no answer within " + TIMEOUT_MS + " ms on " + path + ": " + e, e);
    }
    int status = r.statusCode();
    assertTrue(status < 500, () -> "5xx for client input on " + path + ": " + r.bodyAsString());
    if (status == 200) {
      JsonObject ok = r.bodyAsJsonObject();
      Set<String> members = ok.fieldNames();
      Set<String> allowed = switch (path) {
        case BOOTSTRAP -> Set.of("btid", "autn");
        case KEY_REQUEST -> Set.of("delivery", "ticket", "mac", "wrappedKe2m");
        default -> Set.of("wrappedK");
      };
      assertTrue(allowed.containsAll(members), () -> "undocumented answer: " + ok);
      return new Answer(200, "OK", ok);
    }
    String code = new JsonObject(r.bodyAsString()).getString("code");
    assertEquals(documented.get(code), status,
        () -> "status/code pair not in docs/api.md: " + status + " " + r.bodyAsString());
    JsonObject problem = Problem.assertProblem(r, status, code);
    return new Answer(status, code, problem);
  }

  private static Answer sendJson(WebClient client, String path, JsonObject json) {
    return send(client, path, "application/json", json.toBuffer());
  }

  private static void assertRefusedWith(Answer a, Set<String> codes, String what) {
    assertNotEquals(200, a.status(), () -> "accepted: " + what);
    assertTrue(codes.contains(a.code()),
        () -> what + ": " + a.status() + " " + a.code() + ", documented " + codes);
  }

  // ---- property 1: any body ----

  @Provide
  Arbitrary<String> routes() {
    return Arbitraries.of(BOOTSTRAP, KEY_REQUEST, RETRIEVE);
  }

  @Provide
  Arbitrary<String> contentTypes() {
    return Arbitraries.of("application/json", "application/json; charset=utf-8",
        "application/json;charset=ISO-8859-1", "text/plain", "application/octet-stream",
        "APPLICATION/JSON", "", null);
  }

  private static final List<String> MEMBERS = List.of("role", "id", "credVersion", "nonce",
      "timestamp", "proof", "idBm", "btidM", "offer", "e2m", "iv", "em", "btidB", "ticket", "eb",
      "x", "");

  private static Arbitrary<Object> jsonValues(int depth) {
    Arbitrary<Object> base64 = Arbitraries.bytes().array(byte[].class).ofMaxSize(1100)
        .map(b -> (Object) Base64.getUrlEncoder().withoutPadding().encodeToString(b));
    Arbitrary<Object> text = Arbitraries.strings().all().ofMaxLength(80).map(s -> (Object) s);
    Arbitrary<Object> ids = Arbitraries.of("sip:alice@ims.example.com", "sip:vm.bob@ims.example.com",
        "SIP:alice@IMS.example.com", "tel:+1", "sip:@x", "mailbox", "ue", "UE", "")
        .map(s -> (Object) s);
    Arbitrary<Object> numbers = Arbitraries.oneOf(
        Arbitraries.integers().map(i -> (Object) i), Arbitraries.longs().map(l -> (Object) l),
        Arbitraries.of(0, 1, -1, Integer.MAX_VALUE, 4294967296L, 1e308, -0.5, 1.5)
            .map(n -> (Object) n));
    Arbitrary<Object> scalars = Arbitraries.oneOf(base64, text, ids, numbers,
        Arbitraries.of(true, false).map(b -> (Object) b), Arbitraries.just(null));
    if (depth == 0) {
      return scalars;
    }
    Arbitrary<Object> objects = jsonObjects(depth - 1).map(o -> (Object) o);
    Arbitrary<Object> arrays = jsonValues(depth - 1).list().ofMaxSize(3)
        .map(l -> (Object) new JsonArray(l));
    return Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(8, scalars), net.jqwik.api.Tuple.of(1, objects),
        net.jqwik.api.Tuple.of(1, arrays));
  }

  private static Arbitrary<JsonObject> jsonObjects(int depth) {
    return Arbitraries.maps(Arbitraries.of(MEMBERS), jsonValues(depth)).ofMaxSize(7)
        .map(m -> new JsonObject(new HashMap<>(m)));
  }

  /** Bodies: JSON objects of the contract's member names, other JSON, text, raw bytes. */
  @Provide
  Arbitrary<Buffer> bodies() {
    Arbitrary<Buffer> objects = jsonObjects(2).map(JsonObject::toBuffer);
    Arbitrary<Buffer> genuineEdited = Combinators.combine(
        Arbitraries.of(KEY_REQUEST, RETRIEVE, BOOTSTRAP), Arbitraries.of(MEMBERS),
        jsonValues(1)).as((route, member, value) -> {
          JsonObject j = genuineJson(route);
          return j.put(member, value).toBuffer();
        });
    Arbitrary<Buffer> otherJson = Arbitraries.of("[]", "null", "1", "\"x\"", "{", "{}}", "{\"a\":",
        "{\"role\":\"ue\",\"role\":\"mailbox\"}", "\ufeff{}", "{\"id\":\"\\ud800\"}")
        .map(Buffer::buffer);
    Arbitrary<Buffer> bytes = Arbitraries.bytes().array(byte[].class).ofMaxSize(3000)
        .map(Buffer::buffer);
    Arbitrary<Buffer> truncated = Combinators.combine(Arbitraries.of(KEY_REQUEST, RETRIEVE,
        BOOTSTRAP), Arbitraries.integers().between(0, 4000)).as((route, cut) -> {
          byte[] b = genuineJson(route).toBuffer().getBytes();
          return Buffer.buffer(Arrays.copyOf(b, cut % b.length));
        });
    return Arbitraries.oneOf(objects, genuineEdited, otherJson, bytes, truncated);
  }

  @Property(tries = 150)
  void anyBody_onEveryRoute_isAnsweredInTimeWithADocumentedStatusAndCode(
      @ForAll("routes") String route, @ForAll("contentTypes") String contentType,
      @ForAll("bodies") Buffer body, @ForAll boolean asMailbox) {
    // send() asserts: an answer in time, no 5xx, a documented status/code pair or answer
    send(asMailbox ? kms.vmBob : kms.ue, route, contentType, body);
  }

  // ---- property 2: one member of a genuine request mutated ----

  /** A fresh genuine request's JSON: its nonces are unused, so only the mutation can fail it. */
  private static JsonObject genuineJson(String route) {
    try {
      return switch (route) {
        case BOOTSTRAP -> JsonMessages.toJson(BootstrapRequest.decode(
            kms.bootstrapping.start(p.alice()).requestBytes()));
        case KEY_REQUEST -> JsonMessages.toJson(MailboxKeyRequest.decode(kms.mailboxSdk
            .keyRequest(sm, kms.ueSdk.offer(sa, TestKms.BOB).offerBytes(), false)
            .requestBytes()));
        default -> JsonMessages.toJson(RetrievalRequest.decode(kms.ueSdk.retrieval(sb,
            stored.offer().offerBytes(), stored.grant().ticket()).requestBytes()));
      };
    } catch (Exception e) {
      throw new IllegalStateException("cannot build a genuine request", e);
    }
  }

  enum Edit { FLIP_BITS, SET_BYTES, TRUNCATE, EXTEND, SPLICE }

  private static byte[] edit(byte[] b, Edit how, int at, byte[] noise, byte[] foreign) {
    int i = Math.floorMod(at, Math.max(1, b.length));
    byte[] out;
    switch (how) {
      case FLIP_BITS -> {
        out = b.clone();
        for (int k = 0; k < noise.length && k < 4; k++) {
          int j = Math.floorMod(i + noise[k] * 7, out.length);
          out[j] ^= (byte) (1 << Math.floorMod(noise[k], 8));
        }
      }
      case SET_BYTES -> {
        out = b.clone();
        for (int k = 0; k < noise.length && i + k < out.length; k++) {
          out[i + k] = noise[k];
        }
      }
      case TRUNCATE -> out = Arrays.copyOf(b, i);
      case EXTEND -> {
        out = Arrays.copyOf(b, b.length + noise.length);
        System.arraycopy(noise, 0, out, b.length, noise.length);
      }
      default -> {
        out = b.clone();
        System.arraycopy(foreign, 0, out, i, Math.min(foreign.length, out.length - i));
      }
    }
    return out;
  }

  /**
   * The codes a changed member may get, by route and member: docs/protocol.md §9.1 (which check
   * fails first) and docs/api.md (encoding rules: BAD_BASE64 for a wrong length, MALFORMED for a
   * structure that does not decode).
   */
  static Set<String> allowed(String route, String member) {
    Set<String> encoding = Set.of("BAD_BASE64", "MALFORMED", "SCHEMA_VIOLATION");
    Set<String> specific = switch (route + " " + member) {
      // B-TIDs: their tag, or a version field that names a version not held
      case KEY_REQUEST + " btidM", RETRIEVE + " btidB" -> Set.of("INTEGRITY",
          "UNKNOWN_KEY_VERSION");
      // all of it is in Em's / Eb's AAD; a changed ID-B of the offer first fails the caller check
      case KEY_REQUEST + " offer", KEY_REQUEST + " iv", KEY_REQUEST + " em",
          RETRIEVE + " iv", RETRIEVE + " eb", RETRIEVE + " ticket" -> Set.of("INTEGRITY");
      case RETRIEVE + " offer" -> Set.of("INTEGRITY", "NOT_AUTHORISED");
      // the mailbox named in the body is not the client certificate's
      case KEY_REQUEST + " idBm" -> Set.of("CLIENT_CERT_IDENTITY_MISMATCH");
      // the proof covers everything; a mailbox bootstrap needs a client certificate
      case BOOTSTRAP + " nonce", BOOTSTRAP + " proof", BOOTSTRAP + " timestamp" ->
          Set.of("INTEGRITY");
      case BOOTSTRAP + " id" -> Set.of("INTEGRITY", "UNKNOWN_PRINCIPAL");
      case BOOTSTRAP + " credVersion" -> Set.of("UNKNOWN_KEY_VERSION", "INTEGRITY");
      default -> throw new IllegalArgumentException(route + " " + member);
    };
    Set<String> all = new java.util.HashSet<>(encoding);
    all.addAll(specific);
    return all;
  }

  @Provide
  Arbitrary<String> keyRequestMembers() {
    return Arbitraries.of("btidM", "offer", "iv", "em", "idBm");
  }

  @Provide
  Arbitrary<String> retrievalMembers() {
    return Arbitraries.of("btidB", "offer", "ticket", "iv", "eb");
  }

  @Provide
  Arbitrary<String> bootstrapMembers() {
    return Arbitraries.of("nonce", "proof", "timestamp", "id", "credVersion");
  }

  @Provide
  Arbitrary<byte[]> noise() {
    return Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(40);
  }

  private static Answer mutateAndSend(WebClient client, String route, String member, Edit how,
      int at, byte[] noise) {
    JsonObject genuine = genuineJson(route);
    JsonObject changed = genuine.copy();
    Object value = genuine.getValue(member);
    if (value instanceof String s && !member.equals("id") && !member.equals("idBm")) {
      byte[] b = Base64.getUrlDecoder().decode(s);
      byte[] foreign = Base64.getUrlDecoder().decode(genuine.getString(
          route.equals(BOOTSTRAP) ? "proof" : route.equals(KEY_REQUEST) ? "btidM" : "btidB"));
      byte[] e = edit(b, how, at, noise, foreign);
      if (Arrays.equals(b, e)) {
        e = edit(b, Edit.FLIP_BITS, at, new byte[] {1}, foreign);
      }
      changed.put(member, JsonMessages.b64(e));
    } else if (value instanceof String id) {
      byte[] b = id.getBytes(StandardCharsets.UTF_8);
      byte[] e = edit(b, how, at, noise, "sip:vm.carol@ims.example.com".getBytes());
      if (Arrays.equals(b, e)) {
        e = edit(b, Edit.FLIP_BITS, at, new byte[] {1}, b);
      }
      changed.put(member, new String(e, StandardCharsets.UTF_8));
      if (changed.getString(member).equals(id)) {
        changed.put(member, id + "x"); // an invalid byte decoded back to the same text
      }
    } else {
      long v = ((Number) value).longValue();
      long e = switch (how) {
        case FLIP_BITS -> v ^ (1L << Math.floorMod(at, 31));
        case TRUNCATE -> v >>> 8;
        default -> v + 1 + Math.floorMod(at, 1000);
      };
      changed.put(member, e);
    }
    return sendJson(client, route, changed);
  }

  @Property(tries = 100)
  void keyRequest_withOneMemberChanged_isRefusedWithItsDocumentedCode(
      @ForAll("keyRequestMembers") String member, @ForAll Edit how, @ForAll int at,
      @ForAll("noise") byte[] noise) {
    Answer a = mutateAndSend(kms.vmBob, KEY_REQUEST, member, how, at, noise);
    assertRefusedWith(a, allowed(KEY_REQUEST, member), member + " " + how);
  }

  @Property(tries = 100)
  void retrieval_withOneMemberChanged_isRefusedWithItsDocumentedCode(
      @ForAll("retrievalMembers") String member, @ForAll Edit how, @ForAll int at,
      @ForAll("noise") byte[] noise) {
    Answer a = mutateAndSend(kms.ue, RETRIEVE, member, how, at, noise);
    assertRefusedWith(a, allowed(RETRIEVE, member), member + " " + how);
  }

  @Property(tries = 60)
  void bootstrap_withOneMemberChanged_isRefusedWithItsDocumentedCode(
      @ForAll("bootstrapMembers") String member, @ForAll Edit how, @ForAll int at,
      @ForAll("noise") byte[] noise) {
    Answer a = mutateAndSend(kms.ue, BOOTSTRAP, member, how, at, noise);
    assertRefusedWith(a, allowed(BOOTSTRAP, member), member + " " + how);
  }

  /** The generator itself is sound: the same requests unmutated are served. */
  @Property(tries = 10)
  void genuineRequests_areServed(@ForAll("routes") String route) {
    WebClient c = route.equals(KEY_REQUEST) ? kms.vmBob : kms.ue;
    Answer a = sendJson(c, route, genuineJson(route));
    if (a.status() != 200) {
      fail("a genuine request was refused: " + a);
    }
  }

}
