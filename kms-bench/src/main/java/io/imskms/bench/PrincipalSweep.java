package io.imskms.bench;

import io.imskms.client.Credential;
import io.imskms.protocol.Role;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code bin/kms bench http --principals N,N,...}: is the server's memory independent of the
 * number of distinct principals it has served (issue 10: flat within 5% from 1,000 to 1,000,000)?
 *
 * <p>Principals {@code sip:ue-NNNNNNN@bench.invalid} are enrolled in this JVM through the real
 * ECDH enrolment on the benchmark's token (a P-256 key pair and 5 HSM operations each; nothing is
 * stored per principal by the KMS), by one producer thread, and each sends one bootstrap over
 * HTTPS (closed loop, the largest {@code --concurrency}). The first count's principals are cycled
 * for {@code --settle} seconds first, with the server's replay window shortened to {@link
 * #WINDOW_S} s, so that the replay cache (rate × window entries, whatever the principals) is at
 * its steady size before the first sample. At each count: a full GC in the server ({@code jcmd
 * PID GC.run}), then its RSS and its heap in use.
 *
 * <p>SoftHSM2 leaks about 290 bytes of native memory per session object until the module is
 * re-initialised (docs/performance.md), so the server's RSS also follows a saw-tooth set by
 * {@code hsm.recycleAfterObjects}: per request, not per principal. The sweep's server recycles
 * every {@link #RECYCLE_OBJECTS} objects (unless KMS_HSM_RECYCLE_AFTER_OBJECTS says otherwise),
 * which keeps that saw-tooth (about 6 MB) well inside the 5% it checks.
 */
final class PrincipalSweep {
  static final int WINDOW_S = 30;
  static final int RECYCLE_OBJECTS = 20_000;
  private static final java.lang.management.ThreadMXBean THREADS =
      java.lang.management.ManagementFactory.getThreadMXBean();

  private final HttpBench b;

  PrincipalSweep(HttpBench b) {
    this.b = b;
  }

  record Point(long principals, long requests, double seconds, double rps, double rssMb,
      double heapMb) {}

  void run() throws Exception {
    List<Integer> counts = b.o.principals();
    int c = b.o.largestConcurrency();
    int first = counts.get(0);
    System.out.printf(Locale.ROOT, "%nprincipals: enrolling the first %d in this JVM; %d HTTPS"
        + " clients; load average %s%n", first, c, HttpBench.loadAverage());
    // One thread enrols every principal (credentials only; each request is made when sent) (its HSM session is its own): the first count for the
    // settle phase, then, into a bounded queue, one new principal per request of the sweep.
    CompletableFuture<List<Credential>> settleSet = new CompletableFuture<>();
    BlockingQueue<Credential> made = new ArrayBlockingQueue<>(4096);
    AtomicBoolean stop = new AtomicBoolean();
    int last = counts.get(counts.size() - 1);
    Thread producer = new Thread(() -> {
      try (CheapEnrolment enrol = new CheapEnrolment(b.hsm, b.keys)) {
        long e0 = System.nanoTime();
        long cpu0 = THREADS.getCurrentThreadCpuTime();
        List<Credential> set = new ArrayList<>();
        for (int i = 0; i < first; i++) {
          set.add(enrol.ue(id(i)));
        }
        System.out.printf(Locale.ROOT, "  enrolled %d in %.1f s (%.3f ms of CPU each, this"
            + " thread)%n", first, (System.nanoTime() - e0) / 1e9,
            (THREADS.getCurrentThreadCpuTime() - cpu0) / 1e6 / first);
        settleSet.complete(set);
        for (int i = first; i < last && !stop.get(); i++) {
          Credential r = enrol.ue(id(i));
          while (!made.offer(r, 100, TimeUnit.MILLISECONDS)) {
            if (stop.get()) {
              return;
            }
          }
        }
      } catch (Exception e) {
        System.out.println("  enrolment failed: " + e);
        settleSet.completeExceptionally(e);
        stop.set(true);
      }
    }, "enrol");
    producer.start();
    List<Credential> settle = settleSet.get();
    AtomicLong errors = new AtomicLong();
    AtomicLong answered = new AtomicLong();
    long t0 = System.nanoTime();
    // Settle: the first count's principals, cycled, fresh nonces every time.
    AtomicLong next = new AtomicLong();
    long settleEnd = t0 + (long) (b.o.settleSeconds() * 1e9);
    closedLoop(c, () -> System.nanoTime() < settleEnd ? request(
        settle.get((int) (next.getAndIncrement() % settle.size()))) : null, answered, errors);
    List<Point> points = new ArrayList<>();
    points.add(sample(first, answered.get(), t0));

    // Then new principals only, each bootstrapped once, up to each further count.
    long served = first;
    for (int k = 1; k < counts.size() && !stop.get(); k++) {
      long target = counts.get(k) - served;
      AtomicLong taken = new AtomicLong();
      long before = answered.get();
      closedLoop(c, () -> {
        if (taken.get() >= target) {
          return null;
        }
        // The request (timestamp, nonce) is made now, not when the principal was enrolled:
        // the queue may hold seconds of principals, and the replay window is short here.
        Credential r = made.poll();
        if (r == null) {
          return producer.isAlive() ? NOT_YET : null; // all enrolled and sent, or it failed
        }
        taken.incrementAndGet();
        return request(r);
      }, answered, errors);
      served += answered.get() - before;
      points.add(sample(served, answered.get(), t0));
    }
    stop.set(true);
    producer.join();

    System.out.printf(Locale.ROOT, "%n%12s %10s %8s %7s %8s %16s%n", "principals", "requests",
        "seconds", "rps", "RSS MB", "heap MB (after GC)");
    for (Point p : points) {
      System.out.printf(Locale.ROOT, "%12d %10d %8.0f %7.0f %8.0f %16.1f%n", p.principals(),
          p.requests(), p.seconds(), p.rps(), p.rssMb(), p.heapMb());
    }
    Point a = points.get(0);
    Point z = points.get(points.size() - 1);
    b.totalErrors += errors.get();
    System.out.printf(Locale.ROOT, "principals_first=%d principals_last=%d rss_change_pct=%.1f"
        + " heap_after_gc_change_pct=%.1f errors=%d%n", a.principals(), z.principals(),
        100 * (z.rssMb() - a.rssMb()) / a.rssMb(), 100 * (z.heapMb() - a.heapMb()) / a.heapMb(),
        errors.get());
  }

  static String id(int i) {
    return String.format(Locale.ROOT, "sip:ue-%07d@bench.invalid", i);
  }

  private byte[] request(Credential c) {
    try {
      return b.bootstrapping.start(c).requestBytes();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** A source's answer when no request is ready yet (the enrolment thread is behind). */
  private static final byte[] NOT_YET = new byte[0];

  /**
   * {@code c} clients, each sending the next request of {@code source} when its answer arrives,
   * until the source gives null; as HttpBench's closed loop, every client sends from its own
   * Vert.x context. {@code source} must not block: it gives {@link #NOT_YET} to be asked again
   * a millisecond later.
   */
  private void closedLoop(int c, java.util.function.Supplier<byte[]> source, AtomicLong answered,
      AtomicLong errors) throws InterruptedException {
    CountDownLatch done = new CountDownLatch(c);
    for (int u = 0; u < c; u++) {
      int user = u;
      b.contexts.get(user).runOnContext(v -> next(user, source, answered, errors, done));
    }
    done.await();
  }

  private void next(int user, java.util.function.Supplier<byte[]> source, AtomicLong answered,
      AtomicLong errors, CountDownLatch done) {
    byte[] r;
    try {
      r = source.get();
    } catch (RuntimeException e) {
      System.out.println("  source failed: " + e);
      r = null;
    }
    if (r == null) {
      done.countDown();
      return;
    }
    if (r == NOT_YET) {
      b.vertx.setTimer(1, t -> next(user, source, answered, errors, done));
      return;
    }
    b.ueClients.get(user).bootstrap(r).onComplete(ar -> {
      if (ar.succeeded()) {
        answered.incrementAndGet();
      } else if (errors.incrementAndGet() <= 3) {
        System.out.println("  error: " + ar.cause());
      }
      next(user, source, answered, errors, done);
    });
  }

  private Point sample(long principals, long requests, long t0) throws Exception {
    long pid = b.server.pid();
    Path jcmd = Path.of(ProcessHandle.current().info().command().orElse("java"))
        .resolveSibling("jcmd");
    if (Files.isExecutable(jcmd)) {
      Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "GC.run")
          .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      p.waitFor(60, TimeUnit.SECONDS);
    }
    Thread.sleep(1_000);
    double seconds = (System.nanoTime() - t0) / 1e9;
    Point pt = new Point(principals, requests, seconds, requests / seconds,
        b.proc.rssBytes() / 1e6, b.heapBytes() / 1e6);
    System.out.printf(Locale.ROOT, "  %d principals served, %d requests, %.0f s: server RSS %.0f"
        + " MB, heap after a full GC %.1f MB; HSM module generation %d; load average %s%n",
        principals, requests, seconds, pt.rssMb(), pt.heapMb(),
        b.serverMetric("kms_hsm_generation"), HttpBench.loadAverage());
    return pt;
  }
}
