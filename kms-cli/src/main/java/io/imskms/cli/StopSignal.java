package io.imskms.cli;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;

/** How {@code kms serve} learns that it must stop. */
public interface StopSignal {
  /** How long a stop may take before the process exits anyway. */
  int SHUTDOWN_DEADLINE_SECONDS = 20;

  /**
   * Blocks until the process is asked to stop, runs {@code shutdown}, and returns only if the
   * process is to continue (in tests).
   */
  void awaitThenRun(Runnable shutdown) throws InterruptedException;

  /**
   * SIGINT/SIGTERM: the JVM's shutdown hook runs {@code shutdown} (close Vert.x, then log out of
   * the HSM) and then halts with status 0, so that Ctrl-C is a clean stop, not an error.
   */
  static StopSignal jvmSignals() {
    return shutdown -> {
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        // Bounded: the JVM ignores further signals during shutdown, so a hung close (an HSM
        // that does not answer) must not leave kill -9 as the only way out.
        CompletableFuture<Void> closing = CompletableFuture.runAsync(shutdown);
        int status = ExitCodes.OK;
        try {
          closing.get(SHUTDOWN_DEADLINE_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          System.err.println("kms: stop did not finish within " + SHUTDOWN_DEADLINE_SECONDS
              + " s; exiting anyway");
          status = ExitCodes.FAILURE;
        } catch (ExecutionException e) {
          System.err.println("kms: stop failed: " + e.getCause());
          status = ExitCodes.FAILURE;
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          status = ExitCodes.FAILURE;
        }
        System.err.flush();
        Runtime.getRuntime().halt(status);
      }, "kms-shutdown"));
      new CountDownLatch(1).await();
    };
  }

  /** Stops when {@code stop} completes (tests). */
  static StopSignal when(CompletableFuture<?> stop) {
    return shutdown -> {
      try {
        stop.get();
      } catch (ExecutionException e) {
        // A failed stop request is still a request to stop.
      }
      shutdown.run();
    };
  }
}
