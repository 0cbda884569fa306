package io.imskms.api;

import static io.imskms.api.Problem.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.core.KmsException;
import io.imskms.protocol.BootstrapRequest;
import io.imskms.protocol.BootstrapResponse;
import io.imskms.protocol.ErrorCode;
import io.imskms.protocol.MailboxKeyRequest;
import io.imskms.protocol.MailboxKeyResponse;
import io.imskms.protocol.RetrievalRequest;
import io.imskms.protocol.RetrievalResponse;
import io.imskms.protocol.Role;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.junit5.Checkpoint;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Back-pressure and availability: a full worker queue and an unavailable HSM are answered 503
 * with Retry-After at once, and the server recovers. The operations here stand in for kms-core
 * so that the test decides when a task finishes; the HSM is the real SoftHSM2 token.
 */
@ExtendWith(VertxExtension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SaturationTest {
  private static final int POOL = 2;
  private static final int QUEUE = 2;
  private static TestKms kms;
  private static final Semaphore started = new Semaphore(0);
  private static volatile CountDownLatch release = new CountDownLatch(0);
  private static final AtomicReference<ErrorCode> failWith = new AtomicReference<>();

  /** Blocks each bootstrap until {@link #release} opens; may fail with a set code. */
  private static final KmsOperations GATED = new KmsOperations() {
    @Override
    public BootstrapResponse bootstrap(BootstrapRequest request) throws KmsException {
      started.release();
      try {
        if (!release.await(30, TimeUnit.SECONDS)) {
          throw new KmsException(ErrorCode.INTERNAL, "test gate never opened");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new KmsException(ErrorCode.INTERNAL, "interrupted");
      }
      ErrorCode code = failWith.get();
      if (code != null) {
        throw new KmsException(code, "test failure");
      }
      return new BootstrapResponse(new byte[40], new byte[32]);
    }

    @Override
    public MailboxKeyResponse mailboxKeyRequest(MailboxKeyRequest request) throws KmsException {
      throw new KmsException(ErrorCode.INTERNAL, "not used here");
    }

    @Override
    public RetrievalResponse retrieve(RetrievalRequest request) throws KmsException {
      throw new KmsException(ErrorCode.INTERNAL, "not used here");
    }
  };

  private static JsonObject body;

  @BeforeAll
  static void start() throws Exception {
    kms = TestKms.start(env -> {
      env.put("KMS_HSM_POOL_SIZE", Integer.toString(POOL));
      env.put("KMS_WORKER_QUEUE_LIMIT", Integer.toString(QUEUE));
      env.put("KMS_WORKER_RETRY_AFTER_SECONDS", "3");
    }, GATED);
    body = JsonMessages.toJson(BootstrapRequest.decode(
        kms.bootstrapping.start(kms.enrol(Role.UE, TestKms.ALICE)).requestBytes()));
  }

  @AfterAll
  static void stop() {
    kms.close();
  }

  @Test
  @Order(1)
  void fullWorkerQueue_is503WithRetryAfterAtOnce_andAdmittedRequestsComplete(
      VertxTestContext ctx) throws Exception {
    release = new CountDownLatch(1);
    Checkpoint admittedDone = ctx.checkpoint(POOL + QUEUE);
    for (int i = 0; i < POOL + QUEUE; i++) {
      kms.ue.post("/v1/bootstrap").putHeader("content-type", "application/json")
          .sendBuffer(body.toBuffer())
          .onComplete(ctx.succeeding(r -> ctx.verify(() -> {
            assertEquals(200, r.statusCode(), r.bodyAsString());
            admittedDone.flag();
          })));
    }
    // POOL tasks run on the worker; wait for them, then give the queued ones time to arrive.
    // Deadlines, not speed limits: generous so that a loaded CI machine does not fail them.
    assertTrue(started.tryAcquire(POOL, 60, TimeUnit.SECONDS));
    awaitInFlight(POOL + QUEUE);

    long t0 = System.nanoTime();
    HttpResponse<Buffer> refused = kms.post(kms.ue, "/v1/bootstrap", body);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertProblem(refused, 503, "SERVER_BUSY");
    assertEquals("3", refused.getHeader("Retry-After"));
    // The queue is gated until release below: a refusal that waited for it would never come.
    assertTrue(ms < 10_000, "a refusal must not wait for the queue: " + ms + " ms");

    release.countDown();
    assertTrue(ctx.awaitCompletion(60, TimeUnit.SECONDS));
    started.drainPermits();
  }

  private static void awaitInFlight(int n) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      String m = kms.ue.get("/metrics").send().await().bodyAsString();
      if (m.contains("kms_worker_in_flight " + n + ".0")) {
        return;
      }
      Thread.sleep(20);
    }
    throw new AssertionError("worker never reached " + n + " tasks in flight");
  }

  @Test
  @Order(2)
  void serviceReportsHsmUnavailable_is503WithRetryAfter() {
    release = new CountDownLatch(0);
    failWith.set(ErrorCode.HSM_UNAVAILABLE);
    try {
      assertProblem(kms.post(kms.ue, "/v1/bootstrap", body), 503, "HSM_UNAVAILABLE");
    } finally {
      failWith.set(null);
    }
    assertEquals(200, kms.post(kms.ue, "/v1/bootstrap", body).statusCode());
  }

  @Test
  @Order(3)
  void tokenGone_readinessFails_andRequestsGet503AtOnce() {
    release = new CountDownLatch(0);
    kms.app.hsm().close();
    HttpResponse<Buffer> ready = kms.ue.get("/health/ready").send().await();
    assertEquals(503, ready.statusCode());
    assertEquals("DOWN", ready.bodyAsJsonObject().getString("status"));
    assertEquals("3", ready.getHeader("Retry-After"));
    assertEquals(200, kms.ue.get("/health/live").send().await().statusCode());
    assertProblem(kms.post(kms.ue, "/v1/bootstrap", body), 503, "HSM_UNAVAILABLE");
  }
}
