package io.imskms.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.Set;

/**
 * docs/openapi.yaml, packaged into the jar at build time: served verbatim at /openapi.yaml and
 * parsed into the contract that validates every request.
 */
record OpenApiDocument(Buffer yaml, JsonObject json) {
  static final String RESOURCE = "/io/imskms/api/openapi.yaml";
  /** The response media types vertx-openapi 5.0 accepts in a contract. */
  private static final Set<String> VALIDATOR_MEDIA_TYPES = Set.of("application/json",
      "application/json; charset=utf-8", "multipart/form-data", "application/hal+json",
      "application/octet-stream", "text/plain", "text/plain; charset=utf-8");

  /**
   * The document as given to the request validator. vertx-openapi 5.0 refuses a contract whose
   * responses use media types it cannot validate (application/problem+json, application/yaml);
   * the server does not validate its responses, so those response contents are left out of the
   * validator's copy. Request bodies, which are what is validated, are untouched.
   */
  JsonObject forValidator() {
    JsonObject copy = json.copy();
    JsonObject paths = copy.getJsonObject("paths", new JsonObject());
    for (String path : paths.fieldNames()) {
      JsonObject item = paths.getJsonObject(path);
      for (String method : item.fieldNames()) {
        Object op = item.getValue(method);
        if (op instanceof JsonObject) {
          stripResponses(((JsonObject) op).getJsonObject("responses"));
        }
      }
    }
    JsonObject components = copy.getJsonObject("components");
    if (components != null) {
      stripResponses(components.getJsonObject("responses"));
    }
    return copy;
  }

  private static void stripResponses(JsonObject responses) {
    if (responses == null) {
      return;
    }
    for (String code : responses.fieldNames()) {
      JsonObject content = responses.getJsonObject(code).getJsonObject("content");
      if (content != null) {
        content.fieldNames().removeIf(t -> !VALIDATOR_MEDIA_TYPES.contains(t));
      }
    }
  }

  @SuppressWarnings("unchecked")
  static OpenApiDocument load() {
    try (InputStream in = OpenApiDocument.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(RESOURCE + " is not on the class path");
      }
      byte[] bytes = in.readAllBytes();
      Map<String, Object> tree = new ObjectMapper(new YAMLFactory()).readValue(bytes, Map.class);
      return new OpenApiDocument(Buffer.buffer(bytes), new JsonObject(tree));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + RESOURCE, e);
    }
  }
}
