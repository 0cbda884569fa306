package io.imskms.api.config;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads the configuration: the built-in defaults ({@code defaults.yaml} next to this class), then
 * the operator's YAML file, then {@code KMS_*} environment variables. Every leaf key {@code a.bC}
 * has the override {@code KMS_A_B_C}; list values are comma-separated. Unknown keys are refused
 * (a typo must not silently fall back to a default), and so is any key named {@code pin}: the
 * PIN comes from {@code KMS_HSM_PIN} or the PIN file only ({@link PinSource}).
 */
public final class ConfigLoader {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

  private ConfigLoader() {}

  /** Defaults, then {@code file} (may be null), then the process environment. */
  public static ApiConfig load(Path file) throws ConfigException {
    return load(file, System.getenv());
  }

  /** Defaults, then {@code file} (may be null), then {@code env}. */
  public static ApiConfig load(Path file, Map<String, String> env) throws ConfigException {
    ObjectNode tree = defaults();
    if (file != null) {
      JsonNode user;
      try {
        user = YAML.readTree(file.toFile());
      } catch (IOException e) {
        throw new ConfigException("cannot read config file " + file + ": "
            + firstLine(e.getMessage()));
      }
      if (user != null && !user.isMissingNode() && !user.isNull()) {
        if (!user.isObject()) {
          throw new ConfigException("config file " + file + " must be a YAML mapping");
        }
        refusePin(user, "");
        merge(tree, (ObjectNode) user, "");
      }
    }
    applyEnv(tree, env);
    try {
      return YAML.treeToValue(tree, ApiConfig.class);
    } catch (IOException e) {
      throw new ConfigException("invalid configuration: " + firstLine(e.getMessage()));
    }
  }

  /** Every environment variable this loader reads, with the key it overrides. */
  public static Map<String, String> environmentVariables() {
    Map<String, String> out = new LinkedHashMap<>();
    for (String path : leafPaths(defaults(), "")) {
      out.put(envName(path), path);
    }
    return out;
  }

  static String envName(String path) {
    StringBuilder b = new StringBuilder("KMS_");
    for (int i = 0; i < path.length(); i++) {
      char c = path.charAt(i);
      if (c == '.') {
        b.append('_');
      } else if (Character.isUpperCase(c)) {
        b.append('_').append(c);
      } else {
        b.append(Character.toUpperCase(c));
      }
    }
    return b.toString().toUpperCase(Locale.ROOT);
  }

  private static ObjectNode defaults() {
    try (InputStream in = ConfigLoader.class.getResourceAsStream("defaults.yaml")) {
      if (in == null) {
        throw new IllegalStateException("defaults.yaml missing from the class path");
      }
      return (ObjectNode) YAML.readTree(in);
    } catch (IOException e) {
      throw new IllegalStateException("defaults.yaml unreadable", e);
    }
  }

  private static void refusePin(JsonNode node, String path) throws ConfigException {
    Iterator<Map.Entry<String, JsonNode>> it = node.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      String p = path.isEmpty() ? e.getKey() : path + "." + e.getKey();
      if (e.getKey().toLowerCase(Locale.ROOT).contains("pin")
          && !e.getKey().equals("pinFile")) {
        throw new ConfigException("config key " + p + " is refused: the PIN is read only from"
            + " KMS_HSM_PIN or the file named by hsm.pinFile, never from the config file");
      }
      if (e.getValue().isObject()) {
        refusePin(e.getValue(), p);
      }
    }
  }

  private static void merge(ObjectNode base, ObjectNode over, String path)
      throws ConfigException {
    Iterator<Map.Entry<String, JsonNode>> it = over.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      String p = path.isEmpty() ? e.getKey() : path + "." + e.getKey();
      JsonNode existing = base.get(e.getKey());
      if (existing == null) {
        throw new ConfigException("unknown config key " + p);
      }
      if (existing.isObject()) {
        if (!e.getValue().isObject()) {
          throw new ConfigException("config key " + p + " must be a mapping");
        }
        merge((ObjectNode) existing, (ObjectNode) e.getValue(), p);
      } else {
        base.set(e.getKey(), e.getValue());
      }
    }
  }

  private static void applyEnv(ObjectNode tree, Map<String, String> env) {
    for (String path : leafPaths(tree, "")) {
      String value = env.get(envName(path));
      if (value == null) {
        continue;
      }
      String[] parts = path.split("\\.");
      ObjectNode parent = tree;
      for (int i = 0; i < parts.length - 1; i++) {
        parent = (ObjectNode) parent.get(parts[i]);
      }
      String leaf = parts[parts.length - 1];
      if (parent.get(leaf).isArray()) {
        ArrayNode arr = JsonNodeFactory.instance.arrayNode();
        for (String s : value.split(",")) {
          if (!s.isBlank()) {
            arr.add(s.strip());
          }
        }
        parent.set(leaf, arr);
      } else {
        parent.set(leaf, TextNode.valueOf(value.strip()));
      }
    }
  }

  private static List<String> leafPaths(JsonNode node, String path) {
    List<String> out = new ArrayList<>();
    Iterator<Map.Entry<String, JsonNode>> it = node.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      String p = path.isEmpty() ? e.getKey() : path + "." + e.getKey();
      if (e.getValue().isObject()) {
        out.addAll(leafPaths(e.getValue(), p));
      } else {
        out.add(p);
      }
    }
    return out;
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
