package io.imskms.api;

import io.vertx.core.Context;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.contract.Operation;
import io.vertx.openapi.validation.RequestValidator;
import io.vertx.openapi.validation.impl.RequestParameterImpl;
import io.vertx.openapi.validation.impl.RequestValidatorImpl;
import io.vertx.openapi.validation.impl.ValidatableRequestImpl;
import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * What request-body validation costs per request, the RouterBuilder's way (a validator built per
 * request, run through {@code executeBlocking}) against {@link BodyValidation} (validators built
 * once, run on the event loop), for each protocol operation, in one JVM, alternating. Prints
 * numbers; asserts nothing about time. Runs only with {@code -Dkms.bench=true}:
 *
 * <pre>mvn -B test -pl vertx-api -Dtest=RequestValidationBench -Dkms.bench=true</pre>
 *
 * <p>Columns: {@code router} is the RouterBuilder's full path from the event loop (extract →
 * executeBlocking → validate → back on the loop), chained one request after the other: wall time
 * and process CPU per request. {@code router-body} is the same validator's synchronous body check
 * alone (its validator still built per call), {@code prebuilt} is {@link BodyValidation} with
 * its validators built once and no quick path, and {@code quick} is {@link BodyValidation} as the
 * server runs it, valid bodies accepted by its {@link SchemaAcceptor}: CPU time and bytes
 * allocated per request on the calling thread. The {@code hostile} lines price
 * bodies the schema refuses: {@link BodyValidation} checks those with more than 8 KiB or more
 * than 16 members on a worker, so the event loop pays only the JSON parse of at most 8 KiB.
 */
@EnabledIfSystemProperty(named = "kms.bench", matches = "true")
class RequestValidationBench {
  private static final int N = Integer.getInteger("kms.bench.requests", 50_000);
  private static final int ROUNDS = Integer.getInteger("kms.bench.rounds", 3);

  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
  private static final com.sun.management.OperatingSystemMXBean OS =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

  @Test
  void validationCostPerRequest_routerBuilderVersusPrebuilt() throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      OpenAPIContract contract = OpenAPIContract.from(vertx,
          OpenApiDocument.load().forValidator()).await();
      RequestValidatorImpl router = (RequestValidatorImpl) RequestValidator.create(vertx,
          contract);
      System.out.printf("%-18s %5s %14s %14s %14s %12s %14s %12s %10s %10s%n", "operation",
          "round", "router wall us", "router cpu us", "router-body us", "router-body B",
          "prebuilt us", "prebuilt B", "quick us", "quick B");
      for (int round = 1; round <= ROUNDS; round++) {
        for (String op : List.of("bootstrap", "mailboxKeyRequest", "retrieve")) {
          Operation operation = contract.operation(op);
          Buffer body = BodyValidationTest.valid(op).toBuffer();
          BodyValidation prebuilt = new BodyValidation(contract, operation, false);
          BodyValidation quick = new BodyValidation(contract, operation);
          double[] full = routerPath(vertx, router, op, body, round == 1 ? N / 2 : 0);
          double[] sync = perCall(() -> router.validateBody(operation.getRequestBody(),
              request(body)), round == 1 ? N : 0);
          double[] now = perCall(() -> prebuilt.validate("application/json", body),
              round == 1 ? N : 0);
          double[] fast = perCall(() -> quick.validate("application/json", body),
              round == 1 ? N : 0);
          System.out.printf("%-18s %5d %14.1f %14.1f %14.1f %12.0f %14.1f %12.0f %10.1f %10.0f%n",
              op, round, full[0], full[1], sync[0], sync[1], now[0], now[1], fast[0], fast[1]);
        }
      }
      // Hostile bodies refused by the schema: at the default body limit (64 KiB; validated on
      // a worker) and just under BodyValidation.ON_LOOP_MAX_BYTES (validated on the loop).
      Operation key = contract.operation("mailboxKeyRequest");
      BodyValidation prebuilt = new BodyValidation(contract, key);
      for (var hostile : List.of(
          List.of("extra members, 64 KB", withExtraMembers(64_000)),
          List.of("extra members, 8 KB", withExtraMembers(BodyValidation.ON_LOOP_MAX_BYTES)),
          List.of("base64 member, 63 KB", BodyValidationTest.valid("mailboxKeyRequest")
              .put("offer", "A".repeat(63_000) + "=").toBuffer()),
          List.of("base64 member, 8 KB", BodyValidationTest.valid("mailboxKeyRequest")
              .put("offer", "A".repeat(7_000) + "=").toBuffer()))) {
        Buffer body = (Buffer) hostile.get(1);
        int n = Math.max(1, N / 50);
        double[] sync = perCallN(() -> refused(() -> router.validateBody(key.getRequestBody(),
            request(body))), n, n);
        double[] now = perCallN(() -> refused(() -> prebuilt.validate("application/json", body)),
            n, n);
        double[] parse = perCallN(() -> io.vertx.core.json.Json.decodeValue(body), n, n);
        System.out.printf("hostile %-22s (%5d B): router-body %8.1f us, prebuilt %8.1f us"
            + " (JSON parse alone %6.1f us)%n", hostile.get(0), body.length(), sync[0], now[0],
            parse[0]);
      }
      System.out.printf("(%d requests per cell, %d cores, load average %.2f)%n", N,
          Runtime.getRuntime().availableProcessors(), OS.getSystemLoadAverage());
    } finally {
      vertx.close().await();
    }
  }

  private static ValidatableRequestImpl request(Buffer body) {
    return new ValidatableRequestImpl(new HashMap<>(), new HashMap<>(), new HashMap<>(),
        new HashMap<>(), new RequestParameterImpl(body), "application/json");
  }

  private static Buffer withExtraMembers(int maxBytes) {
    io.vertx.core.json.JsonObject body = BodyValidationTest.valid("mailboxKeyRequest");
    for (int i = 0; body.toBuffer().length() + ("x" + i).length() + 6 <= maxBytes; i++) {
      body.put("x" + i, 0);
    }
    return body.toBuffer();
  }

  private static void refused(Runnable call) {
    try {
      call.run();
      throw new AssertionError("a hostile body was accepted");
    } catch (io.vertx.openapi.validation.ValidatorException expected) {
      // refused, as it must be
    }
  }

  /** CPU microseconds and bytes allocated per call on this thread, after {@code warm} calls. */
  private static double[] perCall(Runnable call, int warm) {
    return perCallN(call, warm, N);
  }

  private static double[] perCallN(Runnable call, int warm, int n) {
    for (int i = 0; i < warm; i++) {
      call.run();
    }
    long tid = Thread.currentThread().getId();
    long bytes0 = THREADS.getThreadAllocatedBytes(tid);
    long cpu0 = THREADS.getCurrentThreadCpuTime();
    for (int i = 0; i < n; i++) {
      call.run();
    }
    long cpu = THREADS.getCurrentThreadCpuTime() - cpu0;
    long bytes = THREADS.getThreadAllocatedBytes(tid) - bytes0;
    return new double[] {cpu / 1000.0 / n, (double) bytes / n};
  }

  /**
   * The RouterBuilder's path, one request after the other from an event loop: wall and process
   * CPU microseconds per request.
   */
  private static double[] routerPath(Vertx vertx, RequestValidator router, String op,
      Buffer body, int warm) {
    Context ctx = vertx.getOrCreateContext();
    if (warm > 0) {
      chain(ctx, router, op, body, warm);
    }
    long cpu0 = OS.getProcessCpuTime();
    long t0 = System.nanoTime();
    chain(ctx, router, op, body, N);
    long wall = System.nanoTime() - t0;
    long cpu = OS.getProcessCpuTime() - cpu0;
    return new double[] {wall / 1000.0 / N, cpu / 1000.0 / N};
  }

  private static void chain(Context ctx, RequestValidator router, String op, Buffer body,
      int n) {
    Promise<Void> done = Promise.promise();
    ctx.runOnContext(v -> next(router, op, body, n, done));
    done.future().await();
  }

  private static void next(RequestValidator router, String op, Buffer body, int left,
      Promise<Void> done) {
    if (left == 0) {
      done.complete();
      return;
    }
    router.validate(request(body), op).onComplete(ar -> {
      if (ar.failed()) {
        done.fail(ar.cause());
        return;
      }
      next(router, op, body, left - 1, done);
    });
  }
}
