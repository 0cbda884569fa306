package io.imskms.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.imskms.hsm.HsmStatus;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link HsmWorker#submit}'s contract, on a real Vert.x instance (protocol logic: the HSM is not
 * involved, the end-to-end proof is the HTTPS suite): the task and the follow-up stage run on
 * the worker, the future completes on the submitting event loop's context with the stage's
 * value, a failure of either arrives unwrapped, and admission is released before the stage
 * ends (the stage is the audit log's wait, which holds no HSM session).
 */
class HsmWorkerTest {
  private static final HsmStatus READY = new HsmStatus(true, 1, 4, 0, 0, 0, 0, 0, 0, null);

  private Vertx vertx;
  private HsmWorker worker;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    worker = new HsmWorker(vertx, 2, 0, 10_000, () -> READY,
        new ApiMetrics(new SimpleMeterRegistry()));
  }

  @AfterEach
  void stop() {
    worker.close().await();
    vertx.close().await();
  }

  @Test
  void stageRunsOnWorker_resultArrivesOnSubmittingContext_afterTheStage() throws Exception {
    AtomicReference<String> taskThread = new AtomicReference<>();
    AtomicReference<String> thenThread = new AtomicReference<>();
    AtomicReference<Integer> inFlightInStage = new AtomicReference<>();
    CompletableFuture<Void> durable = new CompletableFuture<>();
    CompletableFuture<Object[]> answer = new CompletableFuture<>();
    Context loop = vertx.getOrCreateContext();
    loop.runOnContext(v -> worker.submit("test", () -> {
      taskThread.set(Thread.currentThread().getName());
      return "grant";
    }, (String r) -> {
      thenThread.set(Thread.currentThread().getName());
      inFlightInStage.set(worker.inFlight());
      return durable.thenApply(x -> r + " recorded");
    }).onComplete(ar -> answer.complete(new Object[] {ar.result(), ar.cause(),
        Vertx.currentContext(), Context.isOnEventLoopThread()})));

    // The answer waits for the stage (the audit record), however long that takes.
    Thread.sleep(200);
    assertFalse(answer.isDone(), "answered before the stage completed");
    durable.complete(null);
    Object[] a = answer.get(10, TimeUnit.SECONDS);
    assertEquals("grant recorded", a[0]);
    assertEquals(null, a[1]);
    assertSame(loop, a[2], "completed on another context");
    assertEquals(true, a[3]);
    assertTrue(taskThread.get().startsWith(HsmWorker.NAME), taskThread.get());
    assertEquals(taskThread.get(), thenThread.get(), "the stage was started on another thread");
    assertEquals(0, inFlightInStage.get(), "admission held while waiting for the stage");
    assertEquals(0, worker.inFlight());
  }

  @Test
  void taskFailure_stageNotCalled_failureUnwrapped() throws Exception {
    IllegalStateException boom = new IllegalStateException("task");
    AtomicBoolean called = new AtomicBoolean();
    Throwable t = failure(() -> worker.submit("test", () -> {
      throw boom;
    }, (Object r) -> {
      called.set(true);
      return CompletableFuture.completedFuture(r);
    }));
    assertSame(boom, t);
    assertFalse(called.get());
    assertEquals(0, worker.inFlight());
  }

  @Test
  void stageFailure_arrivesUnwrapped() throws Exception {
    ApiFailure audit = new ApiFailure(Failure.AUDIT_UNAVAILABLE);
    Function<String, java.util.concurrent.CompletionStage<String>> then = r ->
        CompletableFuture.<String>completedFuture(r).thenApply(x -> {
          throw new CompletionException(audit);
        });
    assertSame(audit, failure(() -> worker.submit("test", () -> "grant", then)));
    Function<String, java.util.concurrent.CompletionStage<String>> direct = r ->
        CompletableFuture.failedFuture(audit);
    assertSame(audit, failure(() -> worker.submit("test", () -> "grant", direct)));
    Function<String, java.util.concurrent.CompletionStage<String>> throwing = r -> {
      throw new IllegalArgumentException("stage");
    };
    assertTrue(failure(() -> worker.submit("test", () -> "grant", throwing))
        instanceof IllegalArgumentException);
    assertEquals(0, worker.inFlight());
  }

  @Test
  void notReady_refusedAtOnce_withHsmUnavailable() throws Exception {
    HsmWorker down = new HsmWorker(vertx, 1, 0, 10_000,
        () -> new HsmStatus(false, 1, 4, 0, 0, 0, 0, 0, 0, "test"),
        new ApiMetrics(new SimpleMeterRegistry()));
    try {
      Throwable t = failure(() -> down.submit("test", () -> "grant",
          (String r) -> CompletableFuture.completedFuture(r)));
      assertTrue(t instanceof ApiFailure a && a.failure() == Failure.HSM_UNAVAILABLE,
          String.valueOf(t));
    } finally {
      down.close().await();
    }
  }

  private Throwable failure(java.util.function.Supplier<Future<?>> submit) throws Exception {
    CompletableFuture<Throwable> f = new CompletableFuture<>();
    vertx.getOrCreateContext().runOnContext(v -> submit.get().onComplete(ar -> {
      if (ar.succeeded()) {
        f.completeExceptionally(new AssertionError("succeeded: " + ar.result()));
      } else {
        f.complete(ar.cause());
      }
    }));
    return f.get(10, TimeUnit.SECONDS);
  }
}
