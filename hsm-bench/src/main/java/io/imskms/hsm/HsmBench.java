package io.imskms.hsm;

import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_GCM;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_AES_KEY_WRAP;
import static org.xipki.pkcs11.wrapper.PKCS11Constants.CKM_SHA256_HMAC;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.xipki.pkcs11.wrapper.Mechanism;
import org.xipki.pkcs11.wrapper.Session;
import org.xipki.pkcs11.wrapper.params.GCM_PARAMS;

/**
 * Measures what the adapter costs on top of the PKCS#11 calls it makes, and whether recycling the
 * module keeps SoftHSM2's per-object native leak bounded. Not a unit test: a measurement harness,
 * run with {@code bin/kms bench [--rss] [--cycles N] [--seconds S]} (see docs/performance.md).
 *
 * <p>Throughput mode (default): each operation is run through the public {@link HsmSession} API
 * ("adapter") and as the same IAIK wrapper calls on the very same PKCS#11 session and key handles
 * ("direct"), interleaved, for several rounds; the round with the median overhead is reported.
 * Overhead is the extra time per operation: direct ops/s divided by adapter ops/s, minus one.
 *
 * <p>RSS mode ({@code --rss}): derive+destroy cycles through the adapter, one openSession per
 * cycle as a request would, in a fresh JVM per phase: recycling off, then on.
 */
public final class HsmBench {
  private static final KeySpec ROOT = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.DERIVE);
  private static final KeySpec MAC = KeySpec.of(KeyAlgorithm.HMAC_SHA256, KeyUsage.SIGN);
  private static final KeySpec GCM = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.ENCRYPT,
      KeyUsage.DECRYPT);
  private static final KeySpec KEK = KeySpec.of(KeyAlgorithm.AES_256, KeyUsage.WRAP,
      KeyUsage.UNWRAP);
  private static final KeySpec EXPORTABLE = GCM.wrappable();
  private static final byte[] IV = new byte[12];
  private static final byte[] AAD = "imskms-bench-aad".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] DATA = new byte[64];
  private static final byte[] CONTEXT = "imskms/bench/derive".getBytes(StandardCharsets.US_ASCII);
  private static final double TARGET_OVERHEAD = 0.10;
  private static final int EX_USAGE = 64;
  private static final List<String> GROUPS = List.of("gcm", "hmac-session", "hmac-token",
      "derive", "wrap", "unwrap");

  static {
    Arrays.fill(DATA, (byte) 0x5a);
  }

  private HsmBench() {}

  // ------------------------------------------------------------------------------------ options

  private static final class Options {
    boolean rss;
    String rssPhase; // internal: "off" or "on", set for the child JVMs of --rss
    double seconds = 0.6;
    double warmup = 0.3;
    int rounds = 5;
    long cycles = 1_000_000;
    long every; // 0 = cycles / 10
    long recycleEvery = 100_000;
    int[] threads = {1, 2};
    List<String> only = List.of(); // group names; empty = all

    int maxThreads() {
      return Arrays.stream(threads).max().orElse(1);
    }
  }

  private static final class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  private static final String USAGE = String.join("\n",
      "usage: HsmBench [--seconds S] [--rounds R] [--warmup S] [--threads L] [--only L]",
      "       HsmBench --rss [--cycles N] [--every N] [--recycle-every N]",
      "  default    adapter vs direct wrapper calls, ops/s at 1 and 2 threads",
      "             --seconds S  length of one measurement (default 0.6)",
      "             --rounds R   interleaved rounds; the median round is reported (default 5)",
      "             --warmup S   warm-up per measurement before round 1 (default 0.3)",
      "             --threads L  thread counts, comma-separated (default 1,2)",
      "             --only L     operations, comma-separated, of: " + String.join(",", GROUPS),
      "  --rss      derive+destroy cycles through the adapter, process RSS; two fresh JVMs,",
      "             recycling off, then on",
      "             --cycles N         cycles per phase (default 1000000)",
      "             --every N          print RSS every N cycles (default cycles/10)",
      "             --recycle-every N  HsmConfig.recycleAfterObjects in the second phase"
          + " (default 100000)");

  private static Options parse(String[] args) throws UsageException {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "--rss" -> o.rss = true;
        case "--rss-phase" -> {
          o.rssPhase = value(args, ++i, a);
          if (!o.rssPhase.equals("off") && !o.rssPhase.equals("on")) {
            throw new UsageException("--rss-phase is off or on");
          }
        }
        case "--seconds" -> o.seconds = positiveDouble(value(args, ++i, a), a);
        case "--warmup" -> o.warmup = Math.max(0, positiveDouble(value(args, ++i, a), a));
        case "--rounds" -> o.rounds = (int) positiveLong(value(args, ++i, a), a);
        case "--cycles" -> o.cycles = positiveLong(value(args, ++i, a), a);
        case "--every" -> o.every = positiveLong(value(args, ++i, a), a);
        case "--recycle-every" -> o.recycleEvery = positiveLong(value(args, ++i, a), a);
        case "--threads" -> {
          String[] parts = value(args, ++i, a).split(",");
          o.threads = new int[parts.length];
          for (int k = 0; k < parts.length; k++) {
            o.threads[k] = (int) Math.min(16, positiveLong(parts[k], a));
          }
        }
        case "--only" -> {
          o.only = List.of(value(args, ++i, a).split(","));
          for (String g : o.only) {
            if (!GROUPS.contains(g)) {
              throw new UsageException("--only takes " + String.join(",", GROUPS) + ", not " + g);
            }
          }
        }
        case "-h", "--help" -> throw new UsageException(null);
        default -> throw new UsageException("unknown option " + a);
      }
    }
    if (o.every == 0) {
      o.every = Math.max(1, o.cycles / 10);
    }
    return o;
  }

  private static String value(String[] args, int i, String option) throws UsageException {
    if (i >= args.length) {
      throw new UsageException(option + " needs a value");
    }
    return args[i];
  }

  private static long positiveLong(String v, String option) throws UsageException {
    try {
      long n = Long.parseLong(v.replace("_", ""));
      if (n > 0) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new UsageException(option + " needs a positive whole number, not '" + v + "'");
  }

  private static double positiveDouble(String v, String option) throws UsageException {
    try {
      double d = Double.parseDouble(v);
      if (d >= 0 && d < 3600) {
        return d;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new UsageException(option + " needs a number of seconds, not '" + v + "'");
  }

  public static void main(String[] args) {
    Options o;
    try {
      o = parse(args);
    } catch (UsageException e) {
      if (e.getMessage() != null) {
        System.err.println("HsmBench: " + e.getMessage());
      }
      System.err.println(USAGE);
      System.exit(e.getMessage() == null ? 0 : EX_USAGE);
      return;
    }
    int rc = 0;
    try {
      if (o.rssPhase != null) {
        rssPhase(o, o.rssPhase.equals("on"));
      } else if (o.rss) {
        rc = rssParent(o);
      } else {
        throughput(o);
      }
    } catch (Exception e) {
      System.out.flush();
      System.err.println("HsmBench failed: " + e);
      e.printStackTrace();
      rc = 1;
    }
    System.out.flush();
    System.exit(rc);
  }

  // ------------------------------------------------------------------------------ throughput

  /** One operation, run in a loop by one thread. */
  @FunctionalInterface
  private interface Op {
    void run() throws Exception;
  }

  /** Builds a thread's {@link Op} from that thread's fixture (null for per-open variants). */
  @FunctionalInterface
  private interface OpFactory {
    Op make(Fixture f);
  }

  /**
   * One way of running an operation: "adapter" inside a long-lived HsmSession, "adapter" with one
   * openSession per operation, or "direct" wrapper calls on the fixture's raw session.
   */
  private record Variant(String name, boolean perOpen, OpFactory factory) {}

  /** Variants measured back to back (their order alternates between rounds). */
  private record Group(String name, List<Variant> variants) {}

  /** A table row: adapter variant vs direct variant of one group. */
  private record Row(String operation, String mode, Group group, Variant adapter, Variant direct) {}

  /**
   * What one worker thread holds for the whole throughput run: its own HsmSession (so its own
   * PKCS#11 session), the per-request keys made in it, and the raw session and handles behind them.
   */
  private static final class Fixture {
    final HsmSession hs;
    final Session raw;
    final KeyRef gcmKey;
    final KeyRef macKey;
    final KeyRef kek;
    final KeyRef exportable;
    final long hRoot;
    final long hMacToken;
    final long hGcm;
    final long hMac;
    final long hKek;
    final long hExportable;
    final byte[] ciphertext;
    final byte[] wrapped;

    Fixture(HsmSession hs, KeyRef root, KeyRef macToken) throws HsmException {
      this.hs = hs;
      Pkcs11Session ps = (Pkcs11Session) hs;
      raw = ps.rawSessionForBenchmark();
      gcmKey = hs.deriveKey(root, bytes("bench/gcm"), GCM);
      macKey = hs.deriveKey(root, bytes("bench/mac"), MAC);
      kek = hs.deriveKey(root, bytes("bench/kek"), KEK);
      exportable = hs.deriveKey(root, bytes("bench/exportable"), EXPORTABLE);
      hRoot = ps.rawHandleForBenchmark(root);
      hMacToken = ps.rawHandleForBenchmark(macToken);
      hGcm = ps.rawHandleForBenchmark(gcmKey);
      hMac = ps.rawHandleForBenchmark(macKey);
      hKek = ps.rawHandleForBenchmark(kek);
      hExportable = ps.rawHandleForBenchmark(exportable);
      ciphertext = hs.encryptGcm(gcmKey, IV, AAD, DATA);
      wrapped = hs.wrapKey(kek, exportable, WrapMode.KW);
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  // Direct calls: the same mechanisms and templates the adapter builds, built per call as it does.

  private static Mechanism gcmMechanism() {
    return new Mechanism(CKM_AES_GCM, new GCM_PARAMS(IV, AAD, 128));
  }

  private static Mechanism hmacMechanism() {
    return new Mechanism(CKM_SHA256_HMAC);
  }

  private static Mechanism kwMechanism() {
    return new Mechanism(CKM_AES_KEY_WRAP);
  }

  /** The harness state of a throughput run. */
  private static final class Throughput {
    final Pkcs11Hsm hsm;
    final KeyRef root;
    final KeyRef macToken;
    final ExecutorService[] fixtureWorkers;
    final ExecutorService[] plainWorkers;
    final Fixture[] fixtures;

    Throughput(Options o, Pkcs11Hsm hsm, KeyRef root, KeyRef macToken) {
      this.hsm = hsm;
      this.root = root;
      this.macToken = macToken;
      fixtureWorkers = new ExecutorService[o.maxThreads()];
      plainWorkers = new ExecutorService[o.maxThreads()];
      fixtures = new Fixture[o.maxThreads()];
      for (int i = 0; i < fixtureWorkers.length; i++) {
        fixtureWorkers[i] = worker("bench-fixture-" + i);
        plainWorkers[i] = worker("bench-open-" + i);
      }
    }

    private static ExecutorService worker(String name) {
      return Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
      });
    }

    /**
     * Opens each fixture worker's HsmSession on that worker's thread: an HsmSession holds the
     * adapter's read gate for its thread, so it must be opened and closed by the same thread.
     */
    void openFixtures() throws Exception {
      for (int i = 0; i < fixtures.length; i++) {
        fixtures[i] = fixtureWorkers[i].submit(() -> {
          Fixture f = new Fixture(hsm.openSession(), root, macToken);
          selfCheck(f);
          return f;
        }).get();
      }
    }

    void closeFixtures() {
      for (int i = 0; i < fixtures.length; i++) {
        Fixture f = fixtures[i];
        if (f != null) {
          try {
            fixtureWorkers[i].submit(f.hs::close).get();
          } catch (InterruptedException | ExecutionException e) {
            System.err.println("closing fixture " + i + ": " + e);
          }
        }
        fixtureWorkers[i].shutdownNow();
        plainWorkers[i].shutdownNow();
      }
    }

    /** Adapter and direct calls must give the same results, or the comparison is meaningless. */
    private void selfCheck(Fixture f) throws Exception {
      check("GCM decrypt (adapter)", Arrays.equals(DATA,
          f.hs.decryptGcm(f.gcmKey, IV, AAD, f.ciphertext)));
      check("GCM decrypt (direct)", Arrays.equals(DATA,
          f.raw.decryptSingle(gcmMechanism(), f.hGcm, f.ciphertext)));
      check("HMAC session key", Arrays.equals(f.hs.sign(f.macKey, DATA),
          f.raw.signSingle(hmacMechanism(), f.hMac, DATA)));
      check("HMAC token key", Arrays.equals(f.hs.sign(macToken, DATA),
          f.raw.signSingle(hmacMechanism(), f.hMacToken, DATA)));
      check("KW wrap", Arrays.equals(f.wrapped,
          f.raw.wrapKey(kwMechanism(), f.hKek, f.hExportable)));
      check("KW blob length", f.wrapped.length == 40);
    }

    private static void check(String what, boolean ok) {
      if (!ok) {
        throw new IllegalStateException("self-check failed: " + what
            + " differs between the adapter and direct calls");
      }
    }

    List<Group> groups() {
      List<Group> g = new ArrayList<>();
      g.add(new Group("gcm", List.of(
          new Variant("adapter", false, f -> () -> f.hs.decryptGcm(f.gcmKey, IV, AAD, f.ciphertext)),
          new Variant("direct", false, f -> () -> f.raw.decryptSingle(gcmMechanism(), f.hGcm,
              f.ciphertext)))));
      g.add(new Group("hmac-session", List.of(
          new Variant("adapter", false, f -> () -> f.hs.sign(f.macKey, DATA)),
          new Variant("direct", false, f -> () -> f.raw.signSingle(hmacMechanism(), f.hMac,
              DATA)))));
      g.add(new Group("hmac-token", List.of(
          new Variant("adapter", false, f -> () -> f.hs.sign(macToken, DATA)),
          new Variant("adapter-open", true, f -> () -> {
            try (HsmSession s = hsm.openSession()) {
              s.sign(macToken, DATA);
            }
          }),
          new Variant("direct", false, f -> () -> f.raw.signSingle(hmacMechanism(), f.hMacToken,
              DATA)))));
      g.add(new Group("derive", List.of(
          new Variant("adapter", false, f -> () -> f.hs.destroy(f.hs.deriveKey(root, CONTEXT,
              GCM))),
          new Variant("adapter-open", true, f -> () -> {
            // What a request does: the derived key is destroyed by close().
            try (HsmSession s = hsm.openSession()) {
              s.deriveKey(root, CONTEXT, GCM);
            }
          }),
          new Variant("direct", false, f -> () -> f.raw.destroyObject(f.raw.deriveKey(
              Pkcs11Hsm.deriveMechanism(CONTEXT), f.hRoot, Templates.sessionKey(GCM, false)))))));
      g.add(new Group("wrap", List.of(
          new Variant("adapter", false, f -> () -> f.hs.wrapKey(f.kek, f.exportable, WrapMode.KW)),
          new Variant("direct", false, f -> () -> f.raw.wrapKey(kwMechanism(), f.hKek,
              f.hExportable)))));
      g.add(new Group("unwrap", List.of(
          new Variant("adapter", false, f -> () -> f.hs.destroy(f.hs.unwrapKey(f.kek, f.wrapped,
              WrapMode.KW, GCM))),
          new Variant("direct", false, f -> () -> f.raw.destroyObject(f.raw.unwrapKey(
              kwMechanism(), f.hKek, f.wrapped, Templates.unwrappedKey(GCM, false)))))));
      return g;
    }

    static List<Row> rows(List<Group> groups) {
      Map<String, Group> by = new HashMap<>();
      groups.forEach(g -> by.put(g.name(), g));
      List<Row> rows = new ArrayList<>();
      row(rows, "AES-GCM decrypt 64 B, session key", "session", by.get("gcm"), "adapter");
      row(rows, "HMAC-SHA-256 64 B, session key", "session", by.get("hmac-session"), "adapter");
      row(rows, "HMAC-SHA-256 64 B, token key", "session", by.get("hmac-token"), "adapter");
      row(rows, "HMAC-SHA-256 64 B, token key", "open/op", by.get("hmac-token"), "adapter-open");
      row(rows, "derive+destroy (AES-ECB-ENCRYPT-DATA)", "session", by.get("derive"), "adapter");
      row(rows, "derive+destroy (AES-ECB-ENCRYPT-DATA)", "open/op", by.get("derive"),
          "adapter-open");
      row(rows, "wrap KW, 32-byte key", "session", by.get("wrap"), "adapter");
      row(rows, "unwrap KW + destroy", "session", by.get("unwrap"), "adapter");
      return rows;
    }

    private static void row(List<Row> rows, String op, String mode, Group g,
        String adapterVariant) {
      if (g == null) {
        return; // not selected with --only
      }
      Variant a = g.variants().stream().filter(v -> v.name().equals(adapterVariant)).findFirst()
          .orElseThrow();
      Variant d = g.variants().stream().filter(v -> v.name().equals("direct")).findFirst()
          .orElseThrow();
      rows.add(new Row(op, mode, g, a, d));
    }

    /**
     * Runs {@code v} on {@code threads} workers at once for {@code seconds}. Ops/s are summed over
     * the threads, each thread's count divided by its own measured time; CPU time per operation is
     * the workers' thread CPU time (Java and native, user and system) over all their operations.
     */
    Sample measure(Variant v, int threads, double seconds) throws Exception {
      ExecutorService[] workers = v.perOpen() ? plainWorkers : fixtureWorkers;
      CountDownLatch ready = new CountDownLatch(threads);
      CountDownLatch go = new CountDownLatch(1);
      StopFlag flag = new StopFlag();
      List<Future<double[]>> results = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        Fixture f = fixtures[i];
        results.add(workers[i].submit(() -> {
          Op op = v.factory().make(f);
          ready.countDown();
          go.await();
          long n = 0;
          long c0 = CPU.getCurrentThreadCpuTime();
          long t0 = System.nanoTime();
          while (!flag.stop) {
            op.run();
            n++;
          }
          long t1 = System.nanoTime();
          long c1 = CPU.getCurrentThreadCpuTime();
          return new double[] {n, (t1 - t0) / 1e9, (c1 - c0) / 1e3};
        }));
      }
      ready.await();
      go.countDown();
      Thread.sleep(Math.max(1, (long) (seconds * 1000)));
      flag.stop = true;
      double opsPerSecond = 0;
      double ops = 0;
      double cpuMicros = 0;
      for (Future<double[]> r : results) {
        double[] nt = r.get();
        opsPerSecond += nt[0] / nt[1];
        ops += nt[0];
        cpuMicros += nt[2];
      }
      return new Sample(opsPerSecond, cpuMicros / ops);
    }
  }

  private static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();

  /** One measurement: ops/s (wall clock) and CPU microseconds per operation. */
  private record Sample(double opsPerSecond, double cpuMicrosPerOp) {}

  private static final class StopFlag {
    volatile boolean stop;
  }

  private static void throughput(Options o) throws Exception {
    ZonedDateTime started = ZonedDateTime.now();
    long t0 = System.nanoTime();
    SoftHsmTestToken token = SoftHsmTestToken.create();
    Throughput t = null;
    Pkcs11Hsm hsm = null;
    try {
      // Two fixture sessions are held for the whole run, two more serve the open/op variants.
      hsm = token.open(b -> b.poolSize(2 * o.maxThreads()));
      KeyRef root = hsm.generateLongTermKey("bench-root", 1, ROOT).ref();
      KeyRef macToken = hsm.generateLongTermKey("bench-mac", 1, MAC).ref();
      t = new Throughput(o, hsm, root, macToken);
      t.openFixtures();
      List<Group> groups = t.groups().stream()
          .filter(g -> o.only.isEmpty() || o.only.contains(g.name())).toList();
      List<Row> rows = Throughput.rows(groups);

      int measurements = 0;
      for (Group g : groups) {
        measurements += g.variants().size();
      }
      double estimate = measurements * o.threads.length * (o.rounds * o.seconds + o.warmup);
      printHeader(started, hsm, token, o, estimate);

      // Warm-up (JIT), every variant at every thread count, results discarded.
      if (o.warmup > 0) {
        for (int threads : o.threads) {
          for (Group g : groups) {
            for (Variant v : g.variants()) {
              t.measure(v, threads, o.warmup);
            }
          }
        }
      }

      // per thread count: variant -> its sample in each round
      List<Map<Variant, Sample[]>> results = newResults(o.threads.length);
      for (int r = 0; r < o.rounds; r++) {
        for (int ti = 0; ti < o.threads.length; ti++) {
          for (Group g : groups) {
            List<Variant> order = new ArrayList<>(g.variants());
            if (r % 2 == 1) {
              Collections.reverse(order);
            }
            for (Variant v : order) {
              results.get(ti).computeIfAbsent(v, k -> new Sample[o.rounds])[r] =
                  t.measure(v, o.threads[ti], o.seconds);
            }
          }
        }
        System.out.printf(Locale.ROOT, "round %d of %d done (%.0f s)%n", r + 1, o.rounds,
            (System.nanoTime() - t0) / 1e9);
      }
      printTable(rows, results, o);
      HsmStatus st = hsm.status();
      System.out.printf(Locale.ROOT, "%nsession objects created: %,d; process RSS at the end: %,d"
          + " KiB (SoftHSM2 keeps ~290 B per destroyed object until C_Finalize)%n",
          st.objectsCreatedSinceInit(), rssKiB());
      System.out.printf(Locale.ROOT, "load average at the end: %s; total %.0f s%n", loadAverage(),
          (System.nanoTime() - t0) / 1e9);
    } finally {
      // Fixture sessions first: Pkcs11Hsm.close() waits for every open HsmSession.
      if (t != null) {
        t.closeFixtures();
      }
      if (hsm != null) {
        hsm.close();
      }
      token.close();
    }
  }

  private static List<Map<Variant, Sample[]>> newResults(int n) {
    List<Map<Variant, Sample[]>> m = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      m.add(new HashMap<>());
    }
    return m;
  }

  private static void printHeader(ZonedDateTime started, Pkcs11Hsm hsm, SoftHsmTestToken token,
      Options o, double estimate) {
    System.out.println("HSM adapter benchmark: adapter (public HsmSession API) vs direct IAIK"
        + " wrapper calls on the same session and handles");
    System.out.println("date:     " + started.format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
    System.out.println("machine:  " + Runtime.getRuntime().availableProcessors() + " cores, "
        + cpuModel() + "; load average " + loadAverage());
    System.out.println("JDK:      " + System.getProperty("java.vm.name") + " "
        + System.getProperty("java.runtime.version"));
    System.out.println("token:    " + libraryDescription(token.module()) + ", " + hsm.capabilities()
        .manufacturer() + " " + hsm.capabilities().model() + ", fresh token in "
        + token.tokenDir().getParent());
    System.out.printf(Locale.ROOT, "method:   %.1f s per measurement, %d interleaved rounds (order"
        + " alternates), median round reported, %.1f s warm-up per measurement; about %.0f s%n",
        o.seconds, o.rounds, o.warmup, estimate);
    System.out.println("          overhead = direct ops/s / adapter ops/s - 1 (extra time per"
        + " operation); target <= " + Math.round(TARGET_OVERHEAD * 100) + "%");
    System.out.println();
  }

  private static void printTable(List<Row> rows, List<Map<Variant, Sample[]>> results,
      Options o) {
    System.out.println();
    String fmt = "%-38s %-7s %3s %10s %10s %9s %-5s %13s %8s  %s%n";
    System.out.printf(Locale.ROOT, fmt, "operation", "mode", "thr", "adapter/s", "direct/s",
        "overhead", "<=10%", "CPU us/op a/d", "CPU ovh", "overhead per round");
    for (int ti = 0; ti < o.threads.length; ti++) {
      for (Row row : rows) {
        Sample[] a = results.get(ti).get(row.adapter());
        Sample[] d = results.get(ti).get(row.direct());
        double[] ratio = new double[o.rounds];
        double[] cpuRatio = new double[o.rounds];
        StringBuilder per = new StringBuilder();
        for (int r = 0; r < o.rounds; r++) {
          ratio[r] = d[r].opsPerSecond() / a[r].opsPerSecond() - 1;
          cpuRatio[r] = a[r].cpuMicrosPerOp() / d[r].cpuMicrosPerOp() - 1;
          per.append(String.format(Locale.ROOT, "%+.1f%% ", ratio[r] * 100));
        }
        int median = medianIndex(ratio);
        int cpuMedian = medianIndex(cpuRatio);
        System.out.printf(Locale.ROOT, fmt, row.operation(), row.mode(), o.threads[ti],
            String.format(Locale.ROOT, "%,.0f", a[median].opsPerSecond()),
            String.format(Locale.ROOT, "%,.0f", d[median].opsPerSecond()),
            String.format(Locale.ROOT, "%+.1f%%", ratio[median] * 100),
            ratio[median] <= TARGET_OVERHEAD ? "PASS" : "FAIL",
            String.format(Locale.ROOT, "%.1f/%.1f", a[cpuMedian].cpuMicrosPerOp(),
                d[cpuMedian].cpuMicrosPerOp()),
            String.format(Locale.ROOT, "%+.1f%%", cpuRatio[cpuMedian] * 100),
            per.toString().trim());
      }
    }
    System.out.println("mode: session = operations inside one open HsmSession per thread;"
        + " open/op = openSession() + operation + close() per operation (a request), compared"
        + " with the same direct calls on a held session.");
    System.out.println("overhead and PASS/FAIL: wall-clock ops/s of the median round; CPU ovh:"
        + " median round of adapter CPU time per op / direct CPU time per op - 1 (less sensitive"
        + " to other processes on the machine).");
  }

  /** Index of the median value (the lower middle one for an even count). */
  private static int medianIndex(double[] values) {
    Integer[] idx = new Integer[values.length];
    for (int i = 0; i < idx.length; i++) {
      idx[i] = i;
    }
    Arrays.sort(idx, (x, y) -> Double.compare(values[x], values[y]));
    return idx[(values.length - 1) / 2];
  }

  // ------------------------------------------------------------------------------------- RSS

  /** Runs each phase in a fresh JVM, so one phase's freed memory cannot hide the other's growth. */
  private static int rssParent(Options o) throws Exception {
    String java = ProcessHandle.current().info().command().orElse(
        Path.of(System.getProperty("java.home"), "bin", "java").toString());
    List<Map<String, String>> results = new ArrayList<>();
    long t0 = System.nanoTime();
    System.out.println("RSS over " + String.format(Locale.ROOT, "%,d", o.cycles)
        + " derive+destroy cycles through the adapter (openSession, deriveKey, destroy, close),"
        + " one thread, a fresh JVM per phase");
    System.out.println("date:     " + ZonedDateTime.now().format(
        DateTimeFormatter.ISO_OFFSET_DATE_TIME));
    System.out.println("machine:  " + Runtime.getRuntime().availableProcessors() + " cores, "
        + cpuModel() + "; load average " + loadAverage());
    for (String phase : List.of("off", "on")) {
      List<String> cmd = new ArrayList<>(List.of(java,
          // A fixed, pre-touched heap: its pages are resident from the start, so RSS growth is
          // native memory (SoftHSM2, the wrapper, malloc), not the Java heap growing.
          "-Xms64m", "-Xmx64m", "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC"));
      for (String p : List.of("java.io.tmpdir", "kms.softhsmModule")) {
        if (System.getProperty(p) != null) {
          cmd.add("-D" + p + "=" + System.getProperty(p));
        }
      }
      cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), HsmBench.class.getName(),
          "--rss-phase", phase, "--cycles", Long.toString(o.cycles), "--every",
          Long.toString(o.every), "--recycle-every", Long.toString(o.recycleEvery)));
      System.out.println();
      Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
          StandardCharsets.UTF_8))) {
        String line;
        while ((line = in.readLine()) != null) {
          if (line.startsWith("RESULT ")) {
            Map<String, String> m = new LinkedHashMap<>();
            for (String kv : line.substring(7).split(" ")) {
              int eq = kv.indexOf('=');
              m.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
            results.add(m);
          } else {
            System.out.println(line);
          }
        }
      }
      int rc = p.waitFor();
      if (rc != 0) {
        System.err.println("HsmBench: the RSS phase '" + phase + "' exited with " + rc);
        return 1;
      }
    }
    System.out.println();
    String fmt = "%-16s %10s %11s %11s %11s %11s %12s %12s %9s %8s%n";
    System.out.printf(Locale.ROOT, fmt, "recycling", "cycles", "start KiB", "half KiB",
        "end KiB", "max KiB", "growth KiB", "B/cycle 2nd", "recycles", "seconds");
    for (Map<String, String> m : results) {
      long cycles = Long.parseLong(m.get("cycles"));
      long start = Long.parseLong(m.get("startKiB"));
      long half = Long.parseLong(m.get("halfKiB"));
      long halfAt = Long.parseLong(m.get("halfAt"));
      long end = Long.parseLong(m.get("endKiB"));
      double perCycle = cycles > halfAt ? (end - half) * 1024.0 / (cycles - halfAt) : Double.NaN;
      String phase = m.get("phase").equals("on")
          ? "on (" + String.format(Locale.ROOT, "%,d", Long.parseLong(m.get("recycleEvery"))) + ")"
          : "off";
      System.out.printf(Locale.ROOT, fmt, phase, String.format(Locale.ROOT, "%,d", cycles),
          String.format(Locale.ROOT, "%,d", start), String.format(Locale.ROOT, "%,d", half),
          String.format(Locale.ROOT, "%,d", end),
          String.format(Locale.ROOT, "%,d", Long.parseLong(m.get("maxKiB"))),
          String.format(Locale.ROOT, "%+,d", end - start),
          String.format(Locale.ROOT, "%.1f", perCycle), m.get("recycles"), m.get("seconds"));
    }
    System.out.println("half KiB: RSS at the checkpoint halfway through; B/cycle 2nd: RSS growth"
        + " per cycle over the second half (JIT, heap and malloc start-up effects are over by"
        + " then)");
    System.out.printf(Locale.ROOT, "total %.0f s%n", (System.nanoTime() - t0) / 1e9);
    return 0;
  }

  private static void rssPhase(Options o, boolean recycle) throws Exception {
    SoftHsmTestToken token = SoftHsmTestToken.create();
    long recycleEvery = recycle ? o.recycleEvery : 0;
    try (Pkcs11Hsm hsm = token.open(b -> b.recycleAfterObjects(recycleEvery))) {
      KeyRef root = hsm.generateLongTermKey("bench-root", 1, ROOT).ref();
      System.out.println("phase: recycling " + (recycle ? "on, recycleAfterObjects("
          + recycleEvery + ")" : "off, recycleAfterObjects(0)") + "; pid "
          + ProcessHandle.current().pid());
      long start = rssKiB();
      long first = -1;
      long half = -1;
      long halfAt = 0;
      long max = start;
      long t0 = System.nanoTime();
      String fmt = "%10s %11s %12s %9s %9s %9s%n";
      System.out.printf(Locale.ROOT, fmt, "cycles", "RSS KiB", "vs start", "cycles/s", "recycles",
          "gen");
      System.out.printf(Locale.ROOT, fmt, "0", String.format(Locale.ROOT, "%,d", start), "", "",
          "0", hsm.status().generation());
      long last = t0;
      for (long i = 1; i <= o.cycles; i++) {
        try (HsmSession s = hsm.openSession()) {
          s.destroy(s.deriveKey(root, CONTEXT, GCM));
        }
        if (i % o.every == 0 || i == o.cycles) {
          long now = System.nanoTime();
          long rss = rssKiB();
          if (first < 0) {
            first = rss;
          }
          if (half < 0 && i >= o.cycles / 2) {
            half = rss;
            halfAt = i;
          }
          max = Math.max(max, rss);
          HsmStatus st = hsm.status();
          long done = i % o.every == 0 ? o.every : i % o.every;
          System.out.printf(Locale.ROOT, fmt, String.format(Locale.ROOT, "%,d", i),
              String.format(Locale.ROOT, "%,d", rss), String.format(Locale.ROOT, "%+,d",
                  rss - start), String.format(Locale.ROOT, "%,.0f", done / ((now - last) / 1e9)),
              st.recycles(), st.generation());
          last = now;
        }
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      long end = rssKiB();
      HsmStatus st = hsm.status();
      System.out.printf(Locale.ROOT, "RESULT phase=%s cycles=%d every=%d recycleEvery=%d"
          + " startKiB=%d firstKiB=%d halfKiB=%d halfAt=%d endKiB=%d maxKiB=%d recycles=%d"
          + " seconds=%.0f%n", recycle ? "on" : "off", o.cycles, o.every, recycleEvery, start,
          first, half, halfAt, end, Math.max(max, end), st.recycles(), seconds);
    } finally {
      token.close();
    }
  }

  // ----------------------------------------------------------------------------------- system

  /** VmRSS of this process from /proc/self/status, in KiB (-1 if unreadable). */
  static long rssKiB() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException | NumberFormatException e) {
      // fall through
    }
    return -1;
  }

  private static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException | RuntimeException e) {
      return "?";
    }
  }

  private static String cpuModel() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("model name")) {
          return line.substring(line.indexOf(':') + 1).trim();
        }
      }
    } catch (IOException e) {
      // fall through
    }
    return "unknown CPU";
  }

  private static String libraryDescription(Path module) {
    try {
      var info = Pkcs11Modules.get(module).getInfo();
      return info.getLibraryDescription().trim() + " " + info.getLibraryVersion();
    } catch (Exception e) {
      return module.toString();
    }
  }
}
