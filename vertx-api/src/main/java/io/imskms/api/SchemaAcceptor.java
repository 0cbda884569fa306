package io.imskms.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.json.schema.JsonSchema;
import io.vertx.json.schema.SchemaRepository;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A quick test that a request body is valid, for the schema subset the protocol's requests use,
 * compiled once from the contract's schema. It may only say "valid" or "don't know":
 * {@link #accepts} returns true only for values vertx-json-schema's validator accepts too, and
 * false for everything else, which then goes through that validator, so every refusal (its code,
 * its message, the pointer of the member) is still the validator's own. What it saves is the
 * generic walk on the valid requests: the validator compiles each {@code pattern} at each use and
 * builds location strings and output units for every keyword it visits.
 *
 * <p>Why it is sound, keyword by keyword, against vertx-json-schema 5.0.7's
 * {@code SchemaValidatorImpl} (which {@code SchemaAcceptorTest} checks differentially, value by
 * value, against the library itself):
 * <ul>
 *   <li>{@code type}: string, boolean and object only for {@link String}, {@link Boolean} and
 *       {@link JsonObject} values; integer only for {@link Integer} and {@link Long} (a JSON
 *       number with a fraction or exponent, or a big one, is left to the validator);
 *   <li>{@code minLength}, {@code maxLength}: the validator counts UTF-16 surrogate pairs as one;
 *       here a string with any surrogate is "don't know", otherwise its length is exact;
 *   <li>{@code pattern}: the same {@link Pattern#compile} of the same text, and
 *       {@link java.util.regex.Matcher#find}, as the validator;
 *   <li>{@code minimum}, {@code maximum}: integer bounds compared exactly as longs;
 *   <li>{@code enum}: of strings only, compared with {@link String#equals};
 *   <li>{@code required}, {@code properties}, {@code additionalProperties: false} (or absent);
 *   <li>{@code allOf} and {@code $ref}: every branch must accept; a {@code $ref} is resolved
 *       through the contract's repository by the URI the validator uses, and its sibling
 *       keywords are checked as well (stricter than draft 4/7, exact for 2019-09 and later);
 *   <li>as in the validator, a string, number or object keyword constrains only values of its
 *       own type (the contract's {@code B64Nonce} is an {@code allOf} of {@code B64} and a
 *       length without a type of its own).
 * </ul>
 * Any other keyword, apart from annotations ({@code description}, {@code title},
 * {@code example}...), makes {@link #compile} return null: that schema is then always checked
 * by the validator alone. A recursive {@code $ref} does too.
 */
final class SchemaAcceptor {
  /** Keywords that never change validity. */
  private static final Set<String> ANNOTATIONS = Set.of("description", "title", "example",
      "examples", "deprecated", "readOnly", "writeOnly", "$comment", "$schema", "$id",
      "__absolute_uri__", "__absolute_ref__", "__absolute_recursive_ref__");
  private static final int MAX_DEPTH = 16;

  private final Node root;

  private SchemaAcceptor(Node root) {
    this.root = root;
  }

  /**
   * The acceptor of {@code schema}, or null when the schema uses a keyword (or a value of a
   * keyword) outside the subset above.
   */
  static SchemaAcceptor compile(JsonSchema schema, SchemaRepository repository) {
    try {
      return new SchemaAcceptor(new Compiler(repository).node(schema, 0));
    } catch (Unsupported e) {
      return null;
    }
  }

  /** True only if the validator accepts {@code value}; false means "ask the validator". */
  boolean accepts(Object value) {
    return root.accepts(value);
  }

  @FunctionalInterface
  private interface Node {
    boolean accepts(Object value);
  }

  /** Thrown while compiling a schema outside the subset; never escapes {@link #compile}. */
  private static final class Unsupported extends Exception {
    Unsupported(String what) {
      super(what, null, false, false);
    }
  }

  private static final class Compiler {
    private final SchemaRepository repository;

    Compiler(SchemaRepository repository) {
      this.repository = repository;
    }

    Node node(Object schemaValue, int depth) throws Unsupported {
      if (depth > MAX_DEPTH) {
        throw new Unsupported("too deep, or a recursive $ref");
      }
      JsonObject s = asObject(schemaValue);
      List<Node> all = new ArrayList<>();
      for (String key : s.fieldNames()) {
        if (!ANNOTATIONS.contains(key) && !KNOWN.contains(key)) {
          throw new Unsupported(key);
        }
      }
      if (s.containsKey("$ref")) {
        String uri = String.valueOf(s.getValue("__absolute_ref__", s.getValue("$ref")));
        JsonSchema target = repository.find(uri);
        if (target == null) {
          throw new Unsupported("unresolved $ref " + uri);
        }
        all.add(node(target, depth + 1));
      }
      if (s.containsKey("allOf")) {
        if (!(s.getValue("allOf") instanceof JsonArray branches) || branches.isEmpty()) {
          throw new Unsupported("allOf");
        }
        for (Object b : branches) {
          all.add(node(b, depth + 1));
        }
      }
      Object type = s.getValue("type");
      if (type != null) {
        if (!(type instanceof String t)) {
          throw new Unsupported("type list");
        }
        all.add(type(t));
      }
      // As in the validator, each keyword below constrains only values of its own type; a value
      // of another type passes it (the type keyword, when present, has already refused it).
      if (hasAny(s, "minLength", "maxLength", "pattern")) {
        Node str = string(s);
        all.add(v -> !(v instanceof String) || str.accepts(v));
      }
      if (hasAny(s, "minimum", "maximum")) {
        Node num = integer(s);
        // A number that is not an Integer or Long is left to the validator.
        all.add(v -> !(v instanceof Number) || num.accepts(v));
      }
      if (hasAny(s, "properties", "required", "additionalProperties")) {
        Node obj = object(s, depth);
        // A raw Map (not wrapped as a JsonObject) is an object to the validator: "don't know".
        all.add(v -> !(v instanceof JsonObject || v instanceof Map) || obj.accepts(v));
      }
      if (s.containsKey("enum")) {
        all.add(stringEnum(s));
      }
      if (all.isEmpty()) {
        throw new Unsupported("a schema that constrains nothing");
      }
      return all.size() == 1 ? all.get(0) : allOf(all);
    }

    private static final Set<String> KNOWN = Set.of("$ref", "allOf", "type", "minLength",
        "maxLength", "pattern", "enum", "minimum", "maximum", "properties", "required",
        "additionalProperties");

    private static Node type(String type) throws Unsupported {
      switch (type) {
        case "string":
          return v -> v instanceof String;
        case "integer":
          // Integer and Long only: the validator may also take 1.0; that is left to it.
          return v -> v instanceof Integer || v instanceof Long;
        case "boolean":
          return v -> v instanceof Boolean;
        case "object":
          return v -> v instanceof JsonObject;
        default:
          throw new Unsupported("type " + type);
      }
    }

    /** {@code enum} of strings: the value must be one of them (of any other type: refused). */
    private static Node stringEnum(JsonObject s) throws Unsupported {
      if (!(s.getValue("enum") instanceof JsonArray e) || e.isEmpty()) {
        throw new Unsupported("enum");
      }
      List<String> list = new ArrayList<>();
      for (Object o : e) {
        if (!(o instanceof String str)) {
          throw new Unsupported("enum of non-strings");
        }
        list.add(str);
      }
      Set<String> values = Set.copyOf(list);
      return v -> v instanceof String str && values.contains(str);
    }

    private static Node string(JsonObject s) throws Unsupported {
      long min = nonNegative(s, "minLength", 0);
      long max = nonNegative(s, "maxLength", Long.MAX_VALUE);
      Pattern pattern = null;
      if (s.containsKey("pattern")) {
        if (!(s.getValue("pattern") instanceof String p)) {
          throw new Unsupported("pattern");
        }
        pattern = Pattern.compile(p);
      }
      Pattern p = pattern;
      return v -> {
        if (!(v instanceof String str)) {
          return false;
        }
        int n = str.length();
        if (n < min || n > max) {
          return false;
        }
        for (int i = 0; i < n; i++) {
          if (Character.isSurrogate(str.charAt(i))) {
            return false; // the validator counts pairs as one: leave it to the validator
          }
        }
        return p == null || p.matcher(str).find();
      };
    }

    private static Node integer(JsonObject s) throws Unsupported {
      long min = bound(s, "minimum", Long.MIN_VALUE);
      long max = bound(s, "maximum", Long.MAX_VALUE);
      return v -> (v instanceof Integer || v instanceof Long)
          && ((Number) v).longValue() >= min && ((Number) v).longValue() <= max;
    }

    private Node object(JsonObject s, int depth) throws Unsupported {
      Map<String, Node> properties = new HashMap<>();
      if (s.containsKey("properties")) {
        if (!(s.getValue("properties") instanceof JsonObject props)) {
          throw new Unsupported("properties");
        }
        for (String name : props.fieldNames()) {
          properties.put(name, node(props.getValue(name), depth + 1));
        }
      }
      List<String> required = new ArrayList<>();
      if (s.containsKey("required")) {
        if (!(s.getValue("required") instanceof JsonArray r)) {
          throw new Unsupported("required");
        }
        for (Object o : r) {
          if (!(o instanceof String name)) {
            throw new Unsupported("required");
          }
          required.add(name);
        }
      }
      Object additional = s.getValue("additionalProperties");
      if (additional != null && !Boolean.FALSE.equals(additional)
          && !Boolean.TRUE.equals(additional)) {
        throw new Unsupported("additionalProperties schema");
      }
      boolean closed = Boolean.FALSE.equals(additional);
      String[] req = required.toArray(new String[0]);
      return v -> {
        if (!(v instanceof JsonObject o)) {
          return false;
        }
        for (String name : req) {
          if (!o.containsKey(name)) {
            return false;
          }
        }
        for (Map.Entry<String, Object> member : o) {
          Node n = properties.get(member.getKey());
          if (n == null ? closed : !n.accepts(member.getValue())) {
            return false;
          }
        }
        return true;
      };
    }

    private static Node allOf(List<Node> nodes) {
      Node[] ns = nodes.toArray(new Node[0]);
      return v -> {
        for (Node n : ns) {
          if (!n.accepts(v)) {
            return false;
          }
        }
        return true;
      };
    }

    private static long nonNegative(JsonObject s, String key, long absent) throws Unsupported {
      long v = bound(s, key, absent);
      if (v < 0) {
        throw new Unsupported(key);
      }
      return v;
    }

    private static long bound(JsonObject s, String key, long absent) throws Unsupported {
      if (!s.containsKey(key)) {
        return absent;
      }
      Object v = s.getValue(key);
      if (!(v instanceof Integer || v instanceof Long)) {
        throw new Unsupported(key + " not an integer");
      }
      return ((Number) v).longValue();
    }

    private static boolean hasAny(JsonObject s, String... keys) {
      for (String k : keys) {
        if (s.containsKey(k)) {
          return true;
        }
      }
      return false;
    }

    private static JsonObject asObject(Object schemaValue) throws Unsupported {
      if (schemaValue instanceof JsonSchema js) {
        // JsonSchema is a view of a JsonObject; its fieldNames/get are what we read.
        JsonObject o = new JsonObject();
        for (String k : js.fieldNames()) {
          o.put(k, (Object) js.get(k));
        }
        return o;
      }
      if (schemaValue instanceof JsonObject o) {
        return o;
      }
      throw new Unsupported("boolean or non-object schema");
    }
  }
}
