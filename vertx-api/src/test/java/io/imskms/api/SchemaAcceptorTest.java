package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.json.schema.Draft;
import io.vertx.json.schema.JsonSchema;
import io.vertx.json.schema.JsonSchemaOptions;
import io.vertx.json.schema.SchemaRepository;
import io.vertx.json.schema.Validator;
import io.vertx.openapi.contract.MediaType;
import io.vertx.openapi.contract.OpenAPIContract;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link SchemaAcceptor} held to vertx-json-schema's own validator, value by value, on the
 * contract's three request schemas: it never accepts a value the validator refuses (sound), and
 * on values without fractional numbers or surrogate pairs (the two things it leaves to the
 * validator by design) it agrees with the validator exactly, so every valid protocol request
 * takes the quick path.
 */
class SchemaAcceptorTest {
  private static final List<String> OPERATIONS = List.of("bootstrap", "mailboxKeyRequest",
      "retrieve");
  private static Vertx vertx;
  private static OpenAPIContract contract;

  @BeforeAll
  static void load() {
    vertx = Vertx.vertx();
    contract = OpenAPIContract.from(vertx, OpenApiDocument.load().forValidator()).await();
  }

  @AfterAll
  static void close() {
    vertx.close().await();
  }

  private static MediaType json(String op) {
    return contract.operation(op).getRequestBody().getContent().get("application/json");
  }

  @Test
  void everyProtocolRequestSchema_compiles_andEveryOperationUsesIt() {
    for (String op : OPERATIONS) {
      assertNotNull(SchemaAcceptor.compile(json(op).getSchema(), contract.getSchemaRepository()),
          op + ": " + json(op).getSchema());
      assertTrue(new BodyValidation(contract, contract.operation(op)).quickAcceptance(), op);
    }
  }

  @Test
  void randomBodies_acceptedOnlyWhenTheValidatorAccepts_andExactlyThenOnPlainValues() {
    Random rnd = new Random(20261205L);
    List<String> wrong = new ArrayList<>();
    int quick = 0;
    int valid = 0;
    int total = 0;
    for (String op : OPERATIONS) {
      JsonSchema schema = json(op).getSchema();
      Validator validator = contract.getSchemaRepository().validator(schema);
      SchemaAcceptor acceptor = SchemaAcceptor.compile(schema, contract.getSchemaRepository());
      JsonObject base = BodyValidationTest.valid(op);
      List<String> names = new ArrayList<>(base.fieldNames());
      names.addAll(List.of("e2m", "generation", "debug", "ID", "role"));
      for (int i = 0; i < 4000; i++) {
        JsonObject v = base.copy();
        int changes = i == 0 ? 0 : 1 + (rnd.nextInt(4) == 0 ? rnd.nextInt(3) : 0);
        for (int c = 0; c < changes; c++) {
          String name = names.get(rnd.nextInt(names.size()));
          if (rnd.nextInt(8) == 0) {
            v.remove(name);
          } else {
            v.put(name, rnd.nextBoolean() ? kindred(rnd, name, base.getValue(name))
                : value(rnd));
          }
        }
        boolean accepted = acceptor.accepts(v);
        boolean validatorSays = validator.validate(v).getValid();
        total++;
        valid += validatorSays ? 1 : 0;
        quick += accepted ? 1 : 0;
        if (accepted && !validatorSays) {
          wrong.add(op + ": accepted what the validator refuses: " + v.encode());
        } else if (!accepted && validatorSays && plain(v)) {
          wrong.add(op + ": left a plain valid body to the validator: " + v.encode());
        }
      }
    }
    System.out.printf("SchemaAcceptorTest: %d bodies, %d valid to the validator, %d of them"
        + " accepted on the quick path%n", total, valid, quick);
    assertEquals(List.of(), wrong.subList(0, Math.min(wrong.size(), 10)),
        wrong.size() + " disagreements");
    // The generator must reach both sides, or the comparison above proves little.
    assertTrue(valid > total / 20, "valid bodies generated: " + valid + " of " + total);
    assertTrue(valid < total - total / 20, "invalid bodies generated: " + (total - valid));
    assertTrue(quick > 0 && quick <= valid, quick + " quick of " + valid + " valid");
  }

  @Test
  void surrogatePairsAndFractions_areLeftToTheValidator() {
    SchemaAcceptor bootstrap = SchemaAcceptor.compile(json("bootstrap").getSchema(),
        contract.getSchemaRepository());
    JsonObject v = BodyValidationTest.valid("bootstrap");
    assertTrue(bootstrap.accepts(v));
    // Valid for the validator (a pair counts as one character), but not decided here.
    assertEquals(false, bootstrap.accepts(v.copy().put("id", "sip:\uD83D\uDE00@x")));
    // 1.0 may be an integer to the validator; this test leaves numbers with a fraction to it.
    assertEquals(false, bootstrap.accepts(v.copy().put("credVersion", 1.0)));
    assertEquals(false, bootstrap.accepts(v.copy().put("timestamp", 9_007_199_254_740_992L)));
    assertEquals(true, bootstrap.accepts(v.copy().put("timestamp", 9_007_199_254_740_991L)));
  }

  @Test
  void schemasOutsideTheSubset_getNoAcceptor() {
    SchemaRepository repo = SchemaRepository.create(new JsonSchemaOptions()
        .setDraft(Draft.DRAFT202012).setBaseUri("https://kms.test/"));
    JsonObject ok = new JsonObject().put("type", "object").put("additionalProperties", false)
        .put("properties", new JsonObject().put("a", new JsonObject().put("type", "string")
            .put("maxLength", 3)));
    assertNotNull(SchemaAcceptor.compile(JsonSchema.of(ok), repo));
    SchemaAcceptor integer = SchemaAcceptor.compile(JsonSchema.of(new JsonObject()
        .put("type", "integer")), repo);
    assertTrue(integer.accepts(3) && integer.accepts(3L));
    assertEquals(false, integer.accepts(2.5));
    assertEquals(false, integer.accepts("3"));
    for (JsonObject unsupported : List.of(
        new JsonObject().put("type", "string").put("format", "uri"),
        new JsonObject().put("type", "integer").put("exclusiveMinimum", 0),
        new JsonObject().put("type", "number"),
        new JsonObject().put("oneOf", new JsonArray().add(new JsonObject().put("type",
            "string"))),
        new JsonObject().put("type", "object").put("patternProperties", new JsonObject()),
        new JsonObject().put("type", "object").put("additionalProperties",
            new JsonObject().put("type", "string")),
        new JsonObject().put("type", new JsonArray().add("string").add("null")),
        new JsonObject().put("type", "string").put("enum", new JsonArray().add(1)),
        new JsonObject().put("const", "x"),
        new JsonObject().put("$ref", "https://kms.test/missing"),
        new JsonObject())) {
      assertNull(SchemaAcceptor.compile(JsonSchema.of(unsupported), repo),
          unsupported.encode());
    }
  }

  /** No number with a fraction and no surrogate anywhere in the value. */
  private static boolean plain(Object v) {
    if (v instanceof Double || v instanceof Float) {
      return false;
    }
    if (v instanceof String s) {
      return s.chars().noneMatch(ch -> Character.isSurrogate((char) ch));
    }
    if (v instanceof JsonObject o) {
      return o.stream().allMatch(e -> plain(e.getValue()));
    }
    if (v instanceof JsonArray a) {
      return a.stream().allMatch(SchemaAcceptorTest::plain);
    }
    return true;
  }

  private static final String B64 =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  /** A value of the same kind as the member's valid one (most of them valid, some not). */
  private static Object kindred(Random rnd, String name, Object valid) {
    if (name.equals("role")) {
      return pick(rnd, 6);
    }
    if (name.startsWith("id")) {
      return pick(rnd, 4);
    }
    if (valid instanceof String) {
      return pick(rnd, 0);
    }
    if (valid instanceof Number || name.equals("generation")) {
      return pick(rnd, 7);
    }
    return rnd.nextBoolean();
  }

  /** A value from the neighbourhood of valid and invalid members. */
  private static Object value(Random rnd) {
    return pick(rnd, rnd.nextInt(14));
  }

  private static Object pick(Random rnd, int kind) {
    switch (kind) {
      case 0, 1, 2, 3: {
        int[] lengths = {0, 1, 2, 3, 4, 5, 15, 16, 17, 21, 22, 23, 42, 43, 44, 53, 54, 64, 200,
            682, 683, 684, 1365, 1366, 1367, 2731, 2732};
        int n = lengths[rnd.nextInt(lengths.length)];
        StringBuilder b = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
          b.append(B64.charAt(rnd.nextInt(B64.length())));
        }
        if (n > 0 && rnd.nextInt(8) == 0) {
          String odd = "=+/ .\u00e9\n\u00a0";
          b.setCharAt(rnd.nextInt(n), odd.charAt(rnd.nextInt(odd.length())));
        }
        return b.toString();
      }
      case 4, 5: {
        String[] ids = {"sip:alice@ims.example.com", "sips:vm.bob@ims.example.com",
            "tel:+4412345", "sip:a", "sip:ab", "sip:a b", "sip:\u00a0x", "sip:\tx",
            "mailto:a@b", "SIP:alice@x", "sip:", "tel:" + "9".repeat(251),
            "tel:" + "9".repeat(252), "sip:\u00e9l\u00e8ve@x", "sip:x\n", "xsip:abc"};
        return ids[rnd.nextInt(ids.length)];
      }
      case 6: {
        String[] roles = {"ue", "mailbox", "UE", "admin", ""};
        return roles[rnd.nextInt(roles.length)];
      }
      case 7, 8: {
        long[] ints = {0, 1, 2, -1, Integer.MAX_VALUE, Integer.MIN_VALUE,
            1L + Integer.MAX_VALUE, 9_007_199_254_740_991L, 9_007_199_254_740_992L,
            Long.MAX_VALUE, Long.MIN_VALUE, 1_700_000_000_000L};
        long x = ints[rnd.nextInt(ints.length)];
        return x == (int) x && rnd.nextBoolean() ? (Object) (int) x : (Object) x;
      }
      case 9:
        return rnd.nextBoolean();
      case 10:
        return rnd.nextBoolean() ? 1.0 : 2.5;
      case 11:
        return null;
      case 12:
        return new JsonArray().add("AAAA");
      default:
        return new JsonObject().put("a", 1);
    }
  }
}
