package io.imskms.cli;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;

/** How {@code kms serve} learns that it must stop. */
interface StopSignal {
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
        shutdown.run();
        Runtime.getRuntime().halt(ExitCodes.OK);
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
