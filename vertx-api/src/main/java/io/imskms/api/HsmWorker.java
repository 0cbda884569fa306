package io.imskms.api;

import io.imskms.hsm.HsmStatus;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Runs HSM work off the event loop on the named worker executor {@value #NAME}, sized to the
 * HSM session pool, unordered (independent requests do not wait for each other). Admission is
 * bounded: at most pool size + queue limit tasks are in flight, and one more is refused at once
 * with SERVER_BUSY (503) instead of queueing without limit. While the token is not ready, work
 * is refused at once with HSM_UNAVAILABLE (503).
 */
final class HsmWorker {
  static final String NAME = "kms-hsm";

  private final Vertx vertx;
  private final WorkerExecutor executor;
  private final Supplier<HsmStatus> hsmStatus;
  private final ApiMetrics metrics;
  private final int poolSize;
  private final int capacity;
  private final AtomicInteger inFlight = new AtomicInteger();

  HsmWorker(Vertx vertx, int poolSize, int queueLimit, long maxExecuteTimeMs,
      Supplier<HsmStatus> hsmStatus, ApiMetrics metrics) {
    if (poolSize < 1 || queueLimit < 0) {
      throw new IllegalArgumentException("worker pool size must be >= 1, queue limit >= 0");
    }
    this.vertx = vertx;
    this.executor = vertx.createSharedWorkerExecutor(NAME, poolSize, maxExecuteTimeMs,
        TimeUnit.MILLISECONDS);
    this.hsmStatus = hsmStatus;
    this.metrics = metrics;
    this.poolSize = poolSize;
    this.capacity = poolSize + queueLimit;
  }

  /**
   * Runs {@code task} on the worker, timed as {@code operation} (see the class comment), then
   * {@code then} with its result on the same worker thread; the returned future completes on
   * the calling context once, when the stage {@code then} returned completes. The event loop is
   * woken once per request, not once when the task ends and again when the stage does: a
   * grant's audit records are handed to the audit log by the worker that computed the grant,
   * and the loop hears of the request again only when they are durable. If {@code task} fails,
   * {@code then} is not called and the future fails with the task's failure.
   */
  <T, R> Future<R> submit(String operation, Callable<T> task,
      Function<T, CompletionStage<R>> then) {
    if (!hsmStatus.get().ready()) {
      metrics.operation(operation, Failure.HSM_UNAVAILABLE.name(), 0);
      return Future.failedFuture(new ApiFailure(Failure.HSM_UNAVAILABLE));
    }
    if (inFlight.incrementAndGet() > capacity) {
      inFlight.decrementAndGet();
      metrics.operation(operation, Failure.SERVER_BUSY.name(), 0);
      return Future.failedFuture(new ApiFailure(Failure.SERVER_BUSY));
    }
    Context caller = vertx.getOrCreateContext();
    Promise<R> done = Promise.promise();
    long t0 = System.nanoTime();
    try {
      // The future executeBlocking returns gets no listener, so its completion wakes nobody:
      // the request's only way back to the calling context is the runOnContext below.
      executor.executeBlocking(() -> {
        T result;
        try {
          result = task.call();
        } catch (Throwable e) {
          finished(operation, e, t0);
          caller.runOnContext(v -> done.fail(e));
          return null;
        }
        finished(operation, null, t0);
        try {
          then.apply(result).whenComplete((r, e) -> caller.runOnContext(v -> {
            if (e == null) {
              done.complete(r);
            } else {
              done.fail(e instanceof CompletionException && e.getCause() != null
                  ? e.getCause() : e);
            }
          }));
        } catch (Throwable e) {
          caller.runOnContext(v -> done.fail(e));
        }
        return null;
      }, false);
    } catch (RuntimeException e) {
      inFlight.decrementAndGet();
      return Future.failedFuture(new ApiFailure(Failure.SERVER_BUSY));
    }
    return done.future();
  }

  private void finished(String operation, Throwable failure, long t0) {
    inFlight.decrementAndGet();
    metrics.operation(operation, ApiMetrics.outcomeOf(failure), System.nanoTime() - t0);
  }

  int inFlight() {
    return inFlight.get();
  }

  int capacity() {
    return capacity;
  }

  int poolSize() {
    return poolSize;
  }

  Future<Void> close() {
    return executor.close();
  }
}
