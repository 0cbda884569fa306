package io.imskms.api;

import io.imskms.hsm.HsmStatus;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
    this.executor = vertx.createSharedWorkerExecutor(NAME, poolSize, maxExecuteTimeMs,
        TimeUnit.MILLISECONDS);
    this.hsmStatus = hsmStatus;
    this.metrics = metrics;
    this.poolSize = poolSize;
    this.capacity = poolSize + queueLimit;
  }

  /** Runs {@code task} on the worker, timed as {@code operation}; see the class comment. */
  <T> Future<T> submit(String operation, Callable<T> task) {
    if (!hsmStatus.get().ready()) {
      metrics.operation(operation, Failure.HSM_UNAVAILABLE.name(), 0);
      return Future.failedFuture(new ApiFailure(Failure.HSM_UNAVAILABLE));
    }
    if (inFlight.incrementAndGet() > capacity) {
      inFlight.decrementAndGet();
      metrics.operation(operation, Failure.SERVER_BUSY.name(), 0);
      return Future.failedFuture(new ApiFailure(Failure.SERVER_BUSY));
    }
    long t0 = System.nanoTime();
    Future<T> f;
    try {
      f = executor.executeBlocking(task, false);
    } catch (RuntimeException e) {
      inFlight.decrementAndGet();
      return Future.failedFuture(new ApiFailure(Failure.SERVER_BUSY));
    }
    return f.andThen(ar -> {
      inFlight.decrementAndGet();
      metrics.operation(operation, ApiMetrics.outcomeOf(ar.cause()), System.nanoTime() - t0);
    });
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
