package io.imskms.api;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.HttpException;
import io.vertx.ext.web.handler.InputTrustHandler;
import io.vertx.ext.web.openapi.router.RouterBuilder;
import io.vertx.json.schema.JsonSchema;
import io.vertx.json.schema.JsonSchemaValidationException;
import io.vertx.json.schema.OutputUnit;
import io.vertx.json.schema.Validator;
import io.vertx.openapi.contract.MediaType;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.contract.Operation;
import io.vertx.openapi.contract.RequestBody;
import io.vertx.openapi.validation.RequestParameter;
import io.vertx.openapi.validation.SchemaValidationException;
import io.vertx.openapi.validation.ValidatedRequest;
import io.vertx.openapi.validation.ValidationContext;
import io.vertx.openapi.validation.ValidatorErrorType;
import io.vertx.openapi.validation.ValidatorException;
import io.vertx.openapi.validation.analyser.ContentAnalyser;
import io.vertx.openapi.validation.impl.RequestParameterImpl;
import io.vertx.openapi.validation.impl.ValidatedRequestImpl;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;

/**
 * The request validation of one contract operation that has a request body and no parameters,
 * with its JSON-schema validators built once, at start-up.
 *
 * <p>Why: vertx-openapi 5.0's RouterBuilder validates every request with
 * {@code contract.getSchemaRepository().validator(schema)}, which builds a new validator per
 * request (and copies the repository's lookup table of every schema of the contract), and it runs
 * that validation through {@code vertx.executeBlocking}: two thread hops per request. This handler
 * does the same checks, in the same order, with the same exceptions (so {@link Problems} maps
 * them to the same codes), with validators made once per media type of the operation, on the
 * event loop for bodies of at most {@link #ON_LOOP_MAX_BYTES} and {@link #ON_LOOP_MAX_MEMBERS}
 * members (every valid request), otherwise on a worker (an unordered {@code executeBlocking}):
 * a hostile body of thousands of members costs milliseconds of CPU to refuse. See docs/api.md,
 * "Request pipeline".
 *
 * <p>The checks, as vertx-openapi 5.0.7's {@code RequestValidatorImpl.validateBody} and
 * {@code BaseValidator.validate} make them: a required body that is absent or empty is refused
 * ({@link ValidatorErrorType#MISSING_REQUIRED_PARAMETER}); the {@code Content-Type} header must
 * select one of the operation's media types by the contract's own rule
 * ({@link RequestBody#determineContentType}) and that media type must have a content analyser
 * ({@link ValidatorErrorType#UNSUPPORTED_VALUE_FORMAT}); the body must parse
 * ({@link ValidatorErrorType#ILLEGAL_VALUE}); and it must match the media type's schema
 * ({@link SchemaValidationException} with the validator's output unit). What the route's handlers
 * read is what the RouterBuilder put there: a {@link ValidatedRequest} under
 * {@link RouterBuilder#KEY_META_DATA_VALIDATED_REQUEST} whose body is the parsed JSON.
 *
 * <p>The schema check itself first asks the media type's {@link SchemaAcceptor} (compiled once
 * from the same schema): a body it accepts is valid for sure and skips the validator's generic
 * walk; any other body, every refusal included, goes to the validator, so refusals keep its
 * exceptions, messages and pointers exactly.
 *
 * <p>Operations with parameters (path, query, header, cookie) are not handled here:
 * {@link #supports} says no and the route keeps the RouterBuilder's own validation.
 */
final class BodyValidation implements InputTrustHandler {
  /**
   * Bodies up to this size are validated on the event loop. The largest valid protocol request
   * (a retrieval with a B-TID, offer, ticket and ciphertext of the maximum sizes) is about
   * 6.2 KB; validating a hostile body of this size costs a few milliseconds of CPU (see
   * {@code RequestValidationBench}).
   */
  static final int ON_LOOP_MAX_BYTES = 8 * 1024;
  /**
   * Bodies with more top-level members than this have their schema checked on a worker: the
   * protocol's schemas declare at most 7 and forbid others.
   */
  static final int ON_LOOP_MAX_MEMBERS = 16;

  private final String operationId;
  private final RequestBody requestBody;
  /** Per media type of the operation: its validator, or null where 5.0 skips the schema. */
  private final Map<MediaType, Validator> validators = new IdentityHashMap<>();
  /**
   * Per media type: the quick acceptance test of its schema ({@link SchemaAcceptor}), absent
   * where the schema uses keywords outside its subset (the validator then checks every body).
   */
  private final Map<MediaType, SchemaAcceptor> acceptors = new IdentityHashMap<>();

  /** True when this class validates everything the contract says about {@code op}'s requests. */
  static boolean supports(Operation op) {
    return (op.getParameters() == null || op.getParameters().isEmpty())
        && op.getRequestBody() != null;
  }

  BodyValidation(OpenAPIContract contract, Operation op) {
    this(contract, op, true);
  }

  /**
   * @param quickAcceptance false to check every body with the validator alone (for side-by-side
   *     measurements; the server always uses the quick path where it exists)
   */
  BodyValidation(OpenAPIContract contract, Operation op, boolean quickAcceptance) {
    if (!supports(op)) {
      throw new IllegalArgumentException("operation " + op.getOperationId()
          + " has parameters or no request body: keep the RouterBuilder's validation");
    }
    this.operationId = op.getOperationId();
    this.requestBody = op.getRequestBody();
    for (MediaType mt : requestBody.getContent().values()) {
      boolean validated = schemaValidationRequired(mt);
      validators.put(mt, validated
          ? contract.getSchemaRepository().validator(mt.getSchema()) : null);
      SchemaAcceptor acceptor = validated && quickAcceptance
          ? SchemaAcceptor.compile(mt.getSchema(), contract.getSchemaRepository()) : null;
      if (acceptor != null) {
        acceptors.put(mt, acceptor);
      }
    }
  }

  String operationId() {
    return operationId;
  }

  @Override
  public void handle(RoutingContext rc) {
    Buffer body = rc.body() == null ? null : rc.body().buffer();
    String contentType = rc.request().getHeader(HttpHeaders.CONTENT_TYPE);
    if (body != null && body.length() > ON_LOOP_MAX_BYTES) {
      // Larger than any valid request: all of it on a worker, as the RouterBuilder did.
      onWorker(rc, () -> validate(contentType, body));
      return;
    }
    Parsed parsed;
    try {
      parsed = parse(contentType, body);
    } catch (RuntimeException e) {
      fail(rc, e);
      return;
    }
    if (!parsed.cheap()) {
      // More members than any schema here declares: the validator reports each extra one, at
      // some microseconds apiece; a hostile body must not hold the event loop for that.
      onWorker(rc, parsed::check);
      return;
    }
    ValidatedRequest validated;
    try {
      validated = parsed.check();
    } catch (RuntimeException e) {
      fail(rc, e);
      return;
    }
    proceed(rc, validated);
  }

  private static void onWorker(RoutingContext rc, Callable<ValidatedRequest> validation) {
    rc.vertx().executeBlocking(validation, false).onComplete(ar -> {
      if (ar.succeeded()) {
        proceed(rc, ar.result());
      } else {
        fail(rc, ar.cause());
      }
    });
  }

  private static void proceed(RoutingContext rc, ValidatedRequest validated) {
    rc.put(RouterBuilder.KEY_META_DATA_VALIDATED_REQUEST, validated);
    rc.next();
  }

  private static void fail(RoutingContext rc, Throwable t) {
    if (t instanceof ValidatorException) {
      // As the RouterBuilder does: a 400 HttpException with the validator's exception as cause.
      rc.fail(new HttpException(400, t.getMessage(), t));
    } else {
      rc.fail(t);
    }
  }

  /**
   * Validates one request of this operation, on the calling thread.
   *
   * @param contentType the {@code Content-Type} header, or null
   * @param body the body as received, or null
   * @throws ValidatorException (or its {@link SchemaValidationException}) when refused
   */
  ValidatedRequest validate(String contentType, Buffer body) {
    return parse(contentType, body).check();
  }

  /** True when the schema of every media type of this operation has a quick acceptance test. */
  boolean quickAcceptance() {
    return validators.entrySet().stream()
        .allMatch(e -> e.getValue() == null || acceptors.containsKey(e.getKey()));
  }

  /**
   * A body that passed the checks before the schema (present, content type, JSON syntax), and
   * what is left to check.
   *
   * @param done the validated request when nothing is left (no schema, or no body allowed)
   * @param validator the media type's validator
   * @param acceptor the quick acceptance test of the media type's schema, or null
   * @param value the parsed body
   */
  private record Parsed(ValidatedRequest done, Validator validator, SchemaAcceptor acceptor,
      Object value) {
    /** Cheap to check: its schema check costs microseconds whatever the client sent. */
    boolean cheap() {
      return done != null || !(value instanceof JsonObject)
          || ((JsonObject) value).size() <= ON_LOOP_MAX_MEMBERS;
    }

    ValidatedRequest check() {
      if (done != null) {
        return done;
      }
      if (acceptor != null && acceptor.accepts(value)) {
        // Valid for sure (SchemaAcceptor): the validator would say the same, at several times
        // the cost. Anything else, including every refusal, is the validator's to answer.
        return request(new RequestParameterImpl(value));
      }
      OutputUnit result = validator.validate(value);
      try {
        result.checkValidity();
        return request(new RequestParameterImpl(value));
      } catch (JsonSchemaValidationException e) {
        throw SchemaValidationException.createInvalidValueBody(result, ValidationContext.REQUEST,
            e);
      }
    }
  }

  private static ValidatedRequest request(RequestParameter body) {
    return new ValidatedRequestImpl(Map.of(), Map.of(), Map.of(), Map.of(), body);
  }

  private Parsed parse(String contentType, Buffer body) {
    RequestParameter received = new RequestParameterImpl(body);
    if (received.isEmpty()) {
      if (requestBody.isRequired()) {
        throw new ValidatorException("The related request does not contain the required body.",
            ValidatorErrorType.MISSING_REQUIRED_PARAMETER);
      }
      return new Parsed(request(new RequestParameterImpl(null)), null, null, null);
    }
    MediaType mediaType = requestBody.determineContentType(contentType);
    Buffer content = received.getBuffer(Buffer.buffer());
    ContentAnalyser analyser = mediaType == null ? null
        : ContentAnalyser.getContentAnalyser(mediaType, contentType, content,
            ValidationContext.REQUEST);
    if (analyser == null) {
      throw new ValidatorException("The format of the request body is not supported",
          ValidatorErrorType.UNSUPPORTED_VALUE_FORMAT);
    }
    analyser.checkSyntacticalCorrectness();
    if (!validators.containsKey(mediaType)) {
      // determineContentType answers one of requestBody.getContent()'s values; never here.
      throw new IllegalStateException("media type not prepared for " + operationId);
    }
    Validator validator = validators.get(mediaType);
    if (validator == null) {
      // As 5.0: the raw bytes, unvalidated.
      return new Parsed(request(new RequestParameterImpl(content)), null, null, null);
    }
    return new Parsed(null, validator, acceptors.get(mediaType), analyser.transform());
  }

  /** vertx-openapi 5.0's rule: no schema, or a bare binary string, is not validated. */
  private static boolean schemaValidationRequired(MediaType mt) {
    JsonSchema schema = mt.getSchema();
    if (schema == null) {
      return false;
    }
    boolean binaryString = "string".equalsIgnoreCase(String.valueOf((Object) schema.get("type")))
        && "binary".equalsIgnoreCase(String.valueOf((Object) schema.get("format")))
        && schema.fieldNames().size() == 2;
    return !binaryString;
  }

  @Override
  public String toString() {
    return "BodyValidation[" + Objects.toString(operationId) + "]";
  }
}
