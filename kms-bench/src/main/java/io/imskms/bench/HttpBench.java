package io.imskms.bench;

import io.imskms.client.Bootstrapping;
import io.imskms.client.ClientSession;
import io.imskms.client.Credential;
import io.imskms.client.DeviceEnrolment;
import io.imskms.client.MailboxClient;
import io.imskms.client.RandomSource;
import io.imskms.client.RetryPolicy;
import io.imskms.client.UeClient;
import io.imskms.core.DeferredDeliveryOptions;
import io.imskms.core.DeferredDeliveryService;
import io.imskms.core.LongTermKeys;
import io.imskms.core.ServerRandom;
import io.imskms.core.bootstrap.KmsBootstrapper;
import io.imskms.core.directory.MailboxDirectory;
import io.imskms.core.enrolment.EcdhEnrolment;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.replay.ReplayCache;
import io.imskms.hsm.HsmConfig;
import io.imskms.hsm.Pkcs11Hsm;
import io.imskms.hsm.SoftHsmTestToken;
import io.imskms.mailbox.KmsHttpClient;
import io.imskms.protocol.Role;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.HdrHistogram.Histogram;

/**
 * The HTTP service benchmark (docs/performance.md, "HTTP service benchmark"): a KMS server in its
 * own JVM, started from the distribution on the benchmark's own SoftHSM2 token, loaded over real
 * HTTPS through the client SDK (closed loop at several concurrencies, optionally open loop at a
 * fixed rate), and compared with the HSM bound measured in the same run: the same requests served
 * by kms-core's {@link DeferredDeliveryService} in this process, on the same token, at the same
 * thread count, without HTTP. That is the flow's exact operation mix (docs/protocol.md section 12,
 * pinned by HsmOperationCountTest) plus the request checks, which cost microseconds.
 *
 * <p>A measurement, not a test: it exits 0 unless it breaks.
 */
public final class HttpBench {
  static final String ALICE = "sip:alice@ims.example.com";
  static final String BOB = "sip:bob@ims.example.com";
  static final String VM_BOB = "sip:vm.bob@ims.example.com";

  /** The flows measured, in order; the names are those of --flows. */
  enum Flow {
    BOOTSTRAP("bootstrap", "bootstrap (steps 1a/1b)", 4000),
    FIG17("fig17", "Figure 17 step 5", 1500),
    FIG17_E2M("fig17-e2m", "Figure 17 + 19 (Ke2m)", 1200),
    FIG18("fig18", "Figure 18 step 5", 2000);

    final String key;
    final String title;
    /** A generous ceiling of the rate, to size the pre-generated requests of a bound run. */
    final int ceilingRps;

    Flow(String key, String title, int ceilingRps) {
      this.key = key;
      this.title = title;
      this.ceilingRps = ceilingRps;
    }

    static Flow of(String key) {
      for (Flow f : values()) {
        if (f.key.equals(key)) {
          return f;
        }
      }
      throw new IllegalArgumentException("unknown flow " + key
          + " (bootstrap, fig17, fig17-e2m, fig18)");
    }
  }

  record Options(boolean quick, List<Integer> concurrency, double seconds, double warmup,
      List<Flow> flows, List<Integer> otherConcurrency, int reps, double openRate,
      double openSeconds, Path kms, Path work, int serverPool, int serverWorkers,
      boolean bound, double serverWarmup, URI url, Path credentials, Path tls,
      double soakSeconds, double soakShare, List<Integer> principals, double settleSeconds,
      double warmupMax, boolean splitCpus, int ueBtids) {
    /** The largest closed-loop concurrency (the principals sweep runs at it). */
    int largestConcurrency() {
      return concurrency.stream().mapToInt(Integer::intValue).max().orElse(8);
    }
  }

  final Options o;
  private final Clock clock = Clock.systemUTC();
  final Bootstrapping bootstrapping = new Bootstrapping(clock, RandomSource.secure());
  private final UeClient ue = new UeClient(clock, RandomSource.secure());
  private final MailboxClient mailbox = new MailboxClient(clock, RandomSource.secure());
  private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
  /** This JVM: the load generator's own CPU (TLS, JSON, the SDK) competes with the server. */
  private final ProcSampler self = new ProcSampler(ProcessHandle.current().pid());

  private SoftHsmTestToken token;
  Pkcs11Hsm hsm;
  LongTermKeys keys;
  private DeferredDeliveryService service;
  EcdhEnrolment enrolment;
  private Credential alice;
  private ClientSession sa;
  /** UE-A's B-TIDs that Figure 17 requests rotate over (--ue-btids); the first is sa. */
  private final List<ClientSession> senders = new ArrayList<>();
  private int nextSender;
  private ClientSession sm;
  private ClientSession sb;
  private byte[] offerForRetrieval;
  private byte[] ticketForRetrieval;

  Process server;
  ProcSampler proc;
  /** The platform's wake-up delays on the server's CPUs, beside it (null with --url). */
  private HiccupMeter hiccups;
  private int port;
  private Path tlsDir;
  Vertx vertx;
  final List<KmsHttpClient> ueClients = new ArrayList<>();
  private final List<KmsHttpClient> mailboxClients = new ArrayList<>();
  private WebClient metricsClient;
  /** One Vert.x context per client (the open loop sends from it). */
  final List<io.vertx.core.Context> contexts = new ArrayList<>();
  long totalErrors;

  /**
   * Load before an open loop's clock starts, at least: its 64 fresh TLS connections and spaced
   * requests are a pattern the closed-loop warm-up did not show the server, and JFR saw C2
   * compiling the handshake's EC code and recompiling the request path (timers, promises) for
   * several seconds after the clients connected.
   */
  static final double OPEN_LOOP_SETTLE_SECONDS = 4;

  /** Clients of the open loop: each carries one request at a time (no new TLS connections). */
  static final int OPEN_LOOP_CLIENTS = 64;

  HttpBench(Options o) {
    this.o = o;
  }

  public static void main(String[] args) throws Exception {
    Options o;
    try {
      o = parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("kms-bench: " + e.getMessage());
      System.err.println(USAGE);
      System.exit(64);
      return;
    }
    if (o == null) {
      System.out.println(USAGE);
      return;
    }
    HttpBench b = new HttpBench(o);
    int rc = 0;
    try {
      b.run();
    } catch (Exception e) {
      e.printStackTrace();
      rc = 1;
    } finally {
      b.shutdown();
    }
    System.exit(rc);
  }

  /**
   * Warm-up ends once the server's JIT compiler threads use less than this share of its CPU over
   * a round of slices (one per concurrency of the run), or at --warmup-max. At 5% the measured
   * steps still paid 12-22% of the server's CPU to C2 (JFR: the request path's largest methods,
   * KmsServer.run among them, compiled only then); at 1% most steps saw 1-11%, a few up to 25%
   * (docs/performance.md, "Fourth round").
   */
  static final double JIT_SETTLED = Double.parseDouble(System.getProperty("kms.bench.jitSettled",
      "0.01"));

  static final String USAGE = """
      Usage: bin/kms bench http [--quick] [--concurrency 1,2,4,8] [--seconds S] [--warmup S]
                                [--flows bootstrap,fig17,fig17-e2m,fig18] [--reps N]
                                [--open-rate R] [--open-seconds S] [--server-pool N]
                                [--server-workers N] [--server-warmup S] [--no-bound]
                                [--split-cpus] [--ue-btids N]
                                [--soak S [--soak-share F]] [--principals N,N,...]
        --quick          Figure 17 at 1,2,4,8, the other flows at 4, 3 s steps, then an open
                         loop at half the best rate; ends with ratio=R p99_ms=P rps=N errors=E
        --concurrency    closed-loop clients, each with its own keep-alive connection
        --open-rate R    also an open loop at R requests/s per flow (latency from the intended
                         send time, so queueing is counted)
        --server-pool N  the server's hsm.poolSize (default 4); --server-workers: worker.poolSize
        --server-warmup S  JIT warm-up per flow before measuring; then rounds of 2 s slices at
                         each measured concurrency, up to --warmup-max S in all, until the
                         server's JIT compiler threads use under 1% of its CPU in a round
                         (quick: 2 s and 25 s; otherwise 10 s and 120 s)
        --soak S         after the closed-loop steps, an open loop of Figure 17 for S seconds at
                         --soak-share (0.8) of the best closed-loop rate of this run; prints RSS
                         and heap once a minute, errors, and the server's live HSM session
                         objects and token objects before and after
        --principals N,N,...  instead of the steps: bootstraps of distinct UE principals over
                         HTTPS (enrolled in this JVM through the real ECDH enrolment), with the
                         server's RSS and heap after a full GC at each count (e.g.
                         1000,10000,100000,1000000); the first count is cycled
                         for --settle S (default 45) so the replay cache (window set to 30 s in
                         this mode) is at its steady size before the first sample
        --url URL        load a RUNNING KMS (e.g. bin/kms up, or the load balancer of bin/kms
                         cluster up) instead of starting one: no HSM bound (--no-bound), no
                         server CPU/RSS or token counts; principals from --credentials DIR
                         (default var/demo) and TLS from --tls-dir DIR (default var/tls)
        --split-cpus     the server on CPU 1 only, this harness (load generator and the bound)
                         on CPU 0 only (taskset): the bound and the server each get one core,
                         and the load generator does not take the server's; needs 2 CPUs
        --ue-btids N     Figure 17 requests rotate over N B-TIDs of UE-A (N bootstraps; default
                         1): the mailbox's one B-TID is recovered from the server's shared keys
                         (hsm.sharedKeys) after its first use, UE-A's only while N fits in them
                         (N above 4096, the default size: never)
        KMS_HSM_SHARED_KEYS  hsm.sharedKeys of the server and of the bound (0 = off)
        KMS_JAVA_OPTS    is passed to the server JVM (e.g. -XX:StartFlightRecording=...)
      """;

  static Options parse(String[] args) {
    boolean quick = false;
    String conc = null;
    String other = null;
    double seconds = -1;
    double warmup = -1;
    String flows = null;
    int reps = 1;
    double openRate = 0;
    double openSeconds = -1;
    Path kms = null;
    Path work = Path.of("kms-bench/target/http-bench");
    int pool = 4;
    int workers = 0;
    int ueBtids = 1;
    boolean bound = true;
    boolean splitCpus = false;
    double serverWarmup = -1;
    URI url = null;
    Path credentials = Path.of("var/demo");
    Path tls = Path.of("var/tls");
    double soak = 0;
    double soakShare = 0.8;
    String principals = null;
    double settle = 45;
    double warmupMax = -1;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "-h", "--help" -> {
          return null;
        }
        case "--quick" -> quick = true;
        case "--no-bound" -> bound = false;
        case "--split-cpus" -> splitCpus = true;
        default -> {
          if (i + 1 >= args.length) {
            throw new IllegalArgumentException("unknown option or missing value: " + a);
          }
          String v = args[++i];
          switch (a) {
            case "--concurrency" -> conc = v;
            case "--other-concurrency" -> other = v;
            case "--seconds" -> seconds = Double.parseDouble(v);
            case "--warmup" -> warmup = Double.parseDouble(v);
            case "--flows" -> flows = v;
            case "--reps" -> reps = Integer.parseInt(v);
            case "--open-rate" -> openRate = Double.parseDouble(v);
            case "--open-seconds" -> openSeconds = Double.parseDouble(v);
            case "--kms" -> kms = Path.of(v);
            case "--work" -> work = Path.of(v);
            case "--server-pool" -> pool = Integer.parseInt(v);
            case "--server-workers" -> workers = Integer.parseInt(v);
            case "--ue-btids" -> ueBtids = Integer.parseInt(v);
            case "--server-warmup" -> serverWarmup = Double.parseDouble(v);
            case "--url" -> url = URI.create(v);
            case "--credentials" -> credentials = Path.of(v);
            case "--tls-dir" -> tls = Path.of(v);
            case "--soak" -> soak = Double.parseDouble(v);
            case "--soak-share" -> soakShare = Double.parseDouble(v);
            case "--principals" -> principals = v;
            case "--settle" -> settle = Double.parseDouble(v);
            case "--warmup-max" -> warmupMax = Double.parseDouble(v);
            default -> throw new IllegalArgumentException("unknown option " + a);
          }
        }
      }
    }
    if (soakShare <= 0 || soakShare > 1) {
      throw new IllegalArgumentException("--soak-share must be in (0, 1]");
    }
    if (splitCpus && url != null) {
      throw new IllegalArgumentException("--split-cpus needs the benchmark's own server");
    }
    if (url != null) {
      bound = false;
      if (principals != null) {
        throw new IllegalArgumentException("--principals needs the benchmark's own server and"
            + " token (it enrols principals there); it cannot be used with --url");
      }
    } else if (kms == null) {
      throw new IllegalArgumentException("--kms PATH (the distribution's bin/kms) is required;"
          + " bin/kms bench http passes it");
    }
    List<Flow> fl = Stream.of((flows != null ? flows : "bootstrap,fig17,fig17-e2m,fig18")
        .split(",")).map(String::trim).map(Flow::of).toList();
    return new Options(quick, Stats.intList(conc != null ? conc : quick ? "1,2,4,8" : "1,2,4,8,16"),
        seconds > 0 ? seconds : quick ? 3 : 8, warmup >= 0 ? warmup : quick ? 1 : 2, fl,
        other != null ? Stats.intList(other) : quick ? List.of(4) : null, reps, openRate,
        openSeconds > 0 ? openSeconds : quick ? 5 : 10, kms, work, pool, workers, bound,
        serverWarmup >= 0 ? serverWarmup : quick ? 2 : 10, url, credentials, tls, soak, soakShare,
        principals == null ? List.of() : Stats.intList(principals), settle,
        warmupMax >= 0 ? warmupMax : quick ? 25 : 120, splitCpus, Math.max(1, ueBtids));
  }

  // --- set-up ------------------------------------------------------------------------------

  /** hsm.sharedKeys as the server will read it: KMS_HSM_SHARED_KEYS, else the default. */
  static int sharedKeys() {
    String v = System.getenv("KMS_HSM_SHARED_KEYS");
    return v == null || v.isBlank() ? HsmConfig.DEFAULT_SHARED_KEYS : Integer.parseInt(v.trim());
  }

  static final int SERVER_CPU = 1;
  static final int HARNESS_CPU = 0;

  /**
   * --split-cpus: this JVM's threads (and the ones they start) on {@link #HARNESS_CPU} only; the
   * server is started under {@code taskset -c SERVER_CPU}.
   */
  private static void splitCpus() throws IOException, InterruptedException {
    if (Runtime.getRuntime().availableProcessors() < 2) {
      throw new IllegalStateException("--split-cpus needs at least 2 CPUs");
    }
    Process p = new ProcessBuilder("taskset", "-a", "-p", "-c", Integer.toString(HARNESS_CPU),
        Long.toString(ProcessHandle.current().pid())).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException("taskset failed (util-linux): " + out.strip());
    }
    System.out.printf(Locale.ROOT, "CPUs split: the server on CPU %d, this harness (load and"
        + " bound) on CPU %d%n", SERVER_CPU, HARNESS_CPU);
  }

  private void run() throws Exception {
    long started = System.nanoTime();
    System.out.printf(Locale.ROOT, "kms-bench http: %s, load average %s, %d cores%n",
        Instant.now(), loadAverage(), Runtime.getRuntime().availableProcessors());
    long tokenObjectsBefore;
    if (o.url() != null) {
      setUpRemote();
      tokenObjectsBefore = -1;
      System.out.printf(Locale.ROOT, "a running KMS at %s (no bound, no server-side figures)%n",
          o.url());
    } else {
      if (o.splitCpus()) {
        splitCpus();
      }
      setUpToken();
      startServer();
      setUpClients();
      tokenObjectsBefore = tokenObjects();
      System.out.printf(Locale.ROOT, "server pid %d, https://localhost:%d, pool %d, RSS %.0f MB;"
          + " token objects %d%n", server.pid(), port, o.serverPool(), proc.rssBytes() / 1e6,
          tokenObjectsBefore);
      hiccups = HiccupMeter.start(o.splitCpus() ? Integer.toString(SERVER_CPU) : null);
      long rest0 = System.nanoTime();
      sleepUntil(rest0 + REST_NANOS);
      System.out.printf(Locale.ROOT, "platform at rest (nothing loaded): %s%n",
          platformBetween(rest0, System.nanoTime()));
    }
    System.out.printf(Locale.ROOT, "shared keys (Ks by B-TID): hsm.sharedKeys %d for the server"
        + " and the bound; Figure 17 over %d B-TID(s) of UE-A and 1 of the mailbox%n",
        sharedKeys(), senders.size());

    // JIT warm-up of the server (and of this JVM's client side), not reported.
    List<Flow> warmFlows = o.principals().isEmpty() ? o.flows() : List.of(Flow.BOOTSTRAP);
    long warmStart = System.nanoTime();
    for (Flow f : warmFlows) {
      warmUp(f, o.serverWarmup(), true, 4);
    }
    if (proc != null) {
      // Then rounds of 2 s slices, one per measured concurrency, until the JIT compiler
      // threads use under JIT_SETTLED of the server's CPU in a whole round, so that the
      // measured steps see a server close to its steady state (bounded by --warmup-max). Every
      // concurrency: the type profiles of 8 connections are not those of 1, and a step at a
      // concurrency not warmed up pays for C2 recompiling (deoptimisations of Netty's and the
      // TLS engine's methods, seen in JFR) out of the server's CPU.
      double jit = Double.NaN;
      while ((System.nanoTime() - warmStart) / 1e9 < o.warmupMax()) {
        ProcSampler.Cpu c0 = proc.cpu();
        long j0 = proc.jitNanos();
        for (Flow f : warmFlows) {
          for (int users : concurrencies(f)) {
            // /metrics read around each slice as a step reads it: a server that compiled its
            // request path on protocol POSTs alone deoptimises it at the first GET (JFR: a
            // burst of unstable_if traps in Netty's and Vert.x's request decoding, then C2
            // recompiling: 11-16% of the server's CPU in the first measured step).
            serverSnapshot();
            warmUp(f, 2, false, users);
            serverSnapshot();
          }
        }
        long all = proc.cpu().minus(c0).total();
        jit = all == 0 ? 0 : (double) (proc.jitNanos() - j0) / all;
        if (jit < JIT_SETTLED) {
          break;
        }
      }
      System.out.printf(Locale.ROOT, "warmed up: %.0f s of warm-up, JIT compiler %.0f%% of the"
          + " server's CPU in its last slice; server CPU so far %.1f s, RSS %.0f MB; %.0f s since"
          + " start%n", (System.nanoTime() - warmStart) / 1e9, 100 * jit,
          proc.cpu().total() / 1e9, proc.rssBytes() / 1e6, (System.nanoTime() - started) / 1e9);
    }
    if (!o.principals().isEmpty()) {
      new PrincipalSweep(this).run();
      printEnd(tokenObjectsBefore, started);
      return;
    }

    Map<String, Long> threadCpu0 = proc != null ? proc.threadCpu() : Map.of();
    ProcSampler.Cpu cpu0 = proc != null ? proc.cpu() : null;
    Map<String, List<Row>> rows = new LinkedHashMap<>();
    for (int rep = 1; rep <= o.reps(); rep++) {
      System.out.printf(Locale.ROOT, "%n== repetition %d of %d (load average %s)%n", rep, o.reps(),
          loadAverage());
      System.out.println(Row.HEADER);
      for (Flow f : o.flows()) {
        for (int c : concurrencies(f)) {
          Row r = step(f, c);
          System.out.println(r.format(rep));
          rows.computeIfAbsent(f.key + "/" + c, k -> new ArrayList<>()).add(r);
        }
        if (o.openRate() > 0) {
          Row r = openStep(f, o.openRate(), o.openSeconds());
          System.out.println(r.format(rep));
          rows.computeIfAbsent(f.key + "/open", k -> new ArrayList<>()).add(r);
        }
      }
    }
    if (o.reps() > 1) {
      System.out.printf(Locale.ROOT, "%nmedian over %d repetitions [spread = (max-min)/median]%n",
          o.reps());
      System.out.printf(Locale.ROOT, "%-22s %9s %7s %9s %7s %7s %8s%n", "flow/conc", "rps",
          "spread", "bound", "ratio", "spread", "p99 ms");
      for (var e : rows.entrySet()) {
        List<Double> rps = e.getValue().stream().map(Row::rps).toList();
        List<Double> ratio = e.getValue().stream().map(Row::ratio).toList();
        System.out.printf(Locale.ROOT, "%-22s %9.0f %6.0f%% %9.0f %7.2f %6.0f%% %8.2f%n",
            e.getKey(), Stats.median(rps), 100 * Stats.spread(rps),
            Stats.median(e.getValue().stream().map(Row::boundRps).toList()),
            Stats.median(ratio), 100 * Stats.spread(ratio),
            Stats.median(e.getValue().stream().map(Row::p99).toList()));
      }
    }

    // Figure 17 at its best concurrency (median of the repetitions), then half that rate.
    Row best = null;
    double bestRatio = Double.NaN;
    double bestRps = Double.NaN;
    double openP99 = Double.NaN;
    if (o.flows().contains(Flow.FIG17)) {
      List<Double> medRps = new ArrayList<>();
      for (int c : o.concurrency()) {
        medRps.add(Stats.median(rows.get("fig17/" + c).stream().map(Row::rps).toList()));
      }
      int bi = Stats.best(medRps);
      int bc = o.concurrency().get(bi);
      List<Row> bestRows = rows.get("fig17/" + bc);
      best = bestRows.get(0);
      bestRatio = Stats.median(bestRows.stream().map(Row::ratio).toList());
      bestRps = medRps.get(bi);
      double half = medRps.get(bi) / 2;
      System.out.printf(Locale.ROOT, "%nFigure 17: best concurrency %d (%.0f rps); open loop at"
          + " half that rate, %.0f rps:%n", bc, medRps.get(bi), half);
      System.out.println(Row.HEADER);
      Row open = openStep(Flow.FIG17, half, Math.min(o.openSeconds(), 10));
      System.out.println(open.format(0));
      openP99 = open.p99();
    }

    if (o.soakSeconds() > 0 && best != null) {
      soak(bestRps);
    }
    if (proc == null) {
      if (best != null) {
        System.out.printf(Locale.ROOT, "%nrps=%.0f p99_ms=%.1f errors=%d (a running KMS: no"
            + " bound)%n", bestRps, openP99, totalErrors);
      }
      return;
    }
    // Where the server's CPU went over all measured steps, by thread group (/proc task stat).
    Map<String, Long> threadCpu1 = proc.threadCpu();
    long all = proc.cpu().minus(cpu0).total();
    System.out.printf(Locale.ROOT, "%nserver CPU by thread group over the measured steps (%.1f s"
        + " in all, %.0f%% system):%n", all / 1e9,
        100.0 * proc.cpu().minus(cpu0).systemNanos() / Math.max(1, all));
    ProcSampler.minus(threadCpu1, threadCpu0).entrySet().stream()
        .filter(e -> e.getValue() > 0)
        .sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(12)
        .forEach(e -> System.out.printf(Locale.ROOT, "  %-28s %7.1f s %5.1f%%%n", e.getKey(),
            e.getValue() / 1e9, 100.0 * e.getValue() / Math.max(1, all)));

    printEnd(tokenObjectsBefore, started);
    if (best != null) {
      System.out.printf(Locale.ROOT, "ratio=%.2f p99_ms=%.1f rps=%.0f errors=%d%n",
          bestRatio, openP99, bestRps, totalErrors);
    }
  }

  private void setUpToken() throws Exception {
    Path base = Path.of(System.getenv("SOFTHSM2_CONF")).getParent();
    // Tokens of earlier runs: one run, one token.
    if (Files.isDirectory(base)) {
      try (Stream<Path> s = Files.list(base)) {
        for (Path p : s.filter(p -> p.getFileName().toString().startsWith("tokens-")).toList()) {
          deleteTree(p);
        }
      }
    }
    token = SoftHsmTestToken.create();
    int maxThreads = Math.max(4, o.concurrency().stream().mapToInt(Integer::intValue).max()
        .orElse(4));
    // The bound's adapter keeps shared keys as the server does (KMS_HSM_SHARED_KEYS reaches
    // both: the server inherits this environment).
    hsm = token.open(b -> b.poolSize(maxThreads).sharedKeys(sharedKeys()));
    KeyRing ring = KeyRing.ensureProvisioned(hsm);
    Files.createDirectories(o.work());
    Files.deleteIfExists(o.work().resolve("keys.json")); // an earlier run's token
    ring.writeManifest(o.work().resolve("keys.json"));
    Path directoryFile = o.work().resolve("directory.json");
    Files.writeString(directoryFile, "{\"version\":1,\"mailboxes\":{\"" + VM_BOB
        + "\":{\"users\":[\"" + BOB + "\"]}}}", StandardCharsets.UTF_8);
    MailboxDirectory directory = MailboxDirectory.load(directoryFile);
    keys = LongTermKeys.of(ring);
    // As vertx-api's CoreOperations assembles it, with the server's defaults.
    ReplayCache replay = new ReplayCache(Duration.ofSeconds(300), 1_000_000, clock);
    DeferredDeliveryOptions options = DeferredDeliveryOptions.DEFAULTS;
    service = new DeferredDeliveryService(hsm, keys, new KmsBootstrapper(keys, replay, directory,
        clock, options.btidLifetime(), ServerRandom.HSM), directory, replay, clock, options);
    // Principals: enrolled through the real ECDH enrolment (5 HSM operations each), bootstrapped
    // in-process. The KMS keeps no per-user state, so any number of requests can reuse them.
    enrolment = new EcdhEnrolment(hsm, keys, directory);
    alice = enrol(enrolment, Role.UE, ALICE);
    Credential bob = enrol(enrolment, Role.UE, BOB);
    Credential vmBob = enrol(enrolment, Role.MAILBOX, VM_BOB);
    sa = bootstrapInProcess(alice);
    sb = bootstrapInProcess(bob);
    sm = bootstrapInProcess(vmBob);
    senders.add(sa);
    while (senders.size() < o.ueBtids()) {
      senders.add(bootstrapInProcess(alice));
    }
    UeClient.OutgoingOffer offer = ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest kr = mailbox.keyRequest(sm, offer.offerBytes(), false);
    ticketForRetrieval = mailbox.openResponse(kr, service.mailboxKeyRequest(kr.requestBytes()))
        .ticket();
    offerForRetrieval = offer.offerBytes();
  }

  /**
   * --url: the principals of {@code bin/kms up} (their credential files), bootstrapped over
   * HTTPS, and one ticket for the Figure 18 flow obtained over HTTPS too.
   */
  private void setUpRemote() throws Exception {
    port = o.url().getPort() < 0 ? 443 : o.url().getPort();
    tlsDir = o.tls();
    vertx = Vertx.vertx();
    alice = io.imskms.client.CleartextCredentialFile.read(o.credentials().resolve(
        fileName(ALICE) + ".cred"));
    Credential bob = io.imskms.client.CleartextCredentialFile.read(o.credentials().resolve(
        fileName(BOB) + ".cred"));
    Credential vmBob = io.imskms.client.CleartextCredentialFile.read(o.credentials().resolve(
        fileName(VM_BOB) + ".cred"));
    setUpClients();
    sa = bootstrapRemote(ueClients.get(0), alice);
    sb = bootstrapRemote(ueClients.get(0), bob);
    sm = bootstrapRemote(mailboxClients.get(0), vmBob);
    senders.add(sa);
    while (senders.size() < o.ueBtids()) {
      senders.add(bootstrapRemote(ueClients.get(0), alice));
    }
    UeClient.OutgoingOffer offer = ue.offer(sa, BOB);
    MailboxClient.PendingKeyRequest kr = mailbox.keyRequest(sm, offer.offerBytes(), false);
    ticketForRetrieval = mailbox.openResponse(kr,
        mailboxClients.get(0).mailboxKeyRequest(kr.requestBytes()).await()).ticket();
    offerForRetrieval = offer.offerBytes();
  }

  private ClientSession bootstrapRemote(KmsHttpClient c, Credential cred) throws Exception {
    Bootstrapping.Pending p = bootstrapping.start(cred);
    return bootstrapping.finish(p, c.bootstrap(p.requestBytes()).await());
  }

  static Credential enrol(EcdhEnrolment e, Role role, String id) throws Exception {
    DeviceEnrolment d = new DeviceEnrolment(role, id);
    return d.open(e.enrol(d.requestBytes()));
  }

  private ClientSession bootstrapInProcess(Credential c) throws Exception {
    Bootstrapping.Pending p = bootstrapping.start(c);
    return bootstrapping.finish(p, service.bootstrap(p.requestBytes()));
  }

  private void startServer() throws Exception {
    Path work = o.work().toAbsolutePath();
    tlsDir = work.resolve("tls");
    Path audit = work.resolve("audit");
    deleteTree(audit);
    deleteTree(tlsDir);
    Path pin = work.resolve("user.pin");
    Files.deleteIfExists(pin);
    Files.createFile(pin, PosixFilePermissions.asFileAttribute(
        PosixFilePermissions.fromString("rw-------")));
    Files.writeString(pin, token.userPinForTest());
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Path config = work.resolve("kms-bench.yaml");
    Files.writeString(config, String.join("\n",
        "# Written by kms-bench for one run (docs/performance.md, HTTP service benchmark).",
        "http:", "  host: 127.0.0.1", "  port: " + port,
        "tls:", "  protocols: [TLSv1.3]",
        "hsm:", "  module: " + token.module(), "  tokenLabel: " + token.label(),
        "  pinFile: " + pin, "  poolSize: " + o.serverPool(),
        "worker:", "  poolSize: " + o.serverWorkers(), "  queueLimit: 1024",
        "core:", "  directoryFile: " + work.resolve("directory.json"),
        // --principals: a short replay window, so the cache reaches its steady size (rate x
        // window entries, whatever the principals) before the first sample.
        o.principals().isEmpty() ? "" : "  replayWindowSeconds: " + PrincipalSweep.WINDOW_S,
        "  provisionKeys: true", "  keyManifest: " + work.resolve("keys.json"),
        "audit:", "  dir: " + audit,
        "dev:", "  enabled: true", "  tlsDir: " + tlsDir, "  mailboxes: [" + VM_BOB + "]", ""),
        StandardCharsets.UTF_8);
    List<String> cmd = new ArrayList<>();
    if (o.splitCpus()) {
      cmd.addAll(List.of("taskset", "-c", Integer.toString(SERVER_CPU)));
    }
    cmd.addAll(List.of(o.kms().toAbsolutePath().toString(), "serve", "--config",
        config.toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().remove("KMS_HSM_PIN");
    pb.environment().remove("KMS_HSM_SO_PIN");
    pb.environment().put("SOFTHSM2_CONF", token.confFile().toAbsolutePath().toString());
    pb.environment().putIfAbsent("KMS_LOG_LEVEL", "WARN");
    if (!o.principals().isEmpty()) {
      pb.environment().putIfAbsent("KMS_HSM_RECYCLE_AFTER_OBJECTS",
          Integer.toString(PrincipalSweep.RECYCLE_OBJECTS));
    }
    pb.redirectErrorStream(true).redirectOutput(work.resolve("server.log").toFile());
    server = pb.start();
    Process started = server;
    // Interrupted (Ctrl-C, timeout): stop the server too, with SIGTERM.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      if (started.isAlive()) {
        started.destroy();
      }
    }, "stop-server"));
    proc = new ProcSampler(server.pid());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (!Files.exists(tlsDir.resolve("ca.pem"))
        || !Files.exists(tlsDir.resolve("clients").resolve(fileName(VM_BOB) + ".pem"))) {
      checkAlive(deadline, work);
      Thread.sleep(100);
    }
    vertx = Vertx.vertx();
    KmsHttpClient probe = KmsHttpClient.create(vertx, uri(), tlsDir.resolve("ca.pem"), null, null);
    try {
      while (true) {
        checkAlive(deadline, work);
        try {
          if (probe.ready().await()) {
            break;
          }
        } catch (Exception notYet) {
          // not listening yet
        }
        Thread.sleep(200);
      }
    } finally {
      probe.close();
    }
  }

  private void checkAlive(long deadline, Path work) throws IOException {
    if (!server.isAlive() || System.nanoTime() > deadline) {
      String log = Files.exists(work.resolve("server.log"))
          ? Files.readString(work.resolve("server.log")) : "";
      throw new IllegalStateException((server.isAlive() ? "server not ready in 90 s"
          : "server exited with " + server.exitValue()) + "; its output ("
          + work.resolve("server.log") + "):\n" + tail(log, 4000));
    }
  }

  private static String tail(String s, int n) {
    return s.length() <= n ? s : s.substring(s.length() - n);
  }

  private URI uri() {
    return o.url() != null ? o.url() : URI.create("https://localhost:" + port);
  }

  /** As vertx-api's DevTls names a mailbox's client certificate file. */
  static String fileName(String identity) {
    return identity.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9.+-]", "_");
  }

  private void setUpClients() {
    int n = Math.max(OPEN_LOOP_CLIENTS, Stream.concat(o.concurrency().stream(),
        o.otherConcurrency() == null ? Stream.empty() : o.otherConcurrency().stream())
        .mapToInt(Integer::intValue).max().orElse(16));
    Path ca = tlsDir.resolve("ca.pem");
    Path cert = tlsDir.resolve("clients").resolve(fileName(VM_BOB) + ".pem");
    Path key = tlsDir.resolve("clients").resolve(fileName(VM_BOB) + "-key.pem");
    for (int i = 0; i < n; i++) {
      // No retries: the benchmark counts every error as it happened.
      ueClients.add(KmsHttpClient.create(vertx, List.of(uri()), ca, null, null,
          RetryPolicy.NONE, KmsHttpClient.DEFAULT_TIMEOUT_MS));
      mailboxClients.add(KmsHttpClient.create(vertx, List.of(uri()), ca, cert, key,
          RetryPolicy.NONE, KmsHttpClient.DEFAULT_TIMEOUT_MS));
      contexts.add(vertx.getOrCreateContext());
    }
    metricsClient = WebClient.create(vertx, new WebClientOptions().setSsl(true)
        .setVerifyHost(true).setEnabledSecureTransportProtocols(Set.of("TLSv1.3"))
        .setTrustOptions(new PemTrustOptions().addCertPath(ca.toString()))
        .setDefaultHost("localhost").setDefaultPort(port));
  }

  private void shutdown() {
    for (KmsHttpClient c : ueClients) {
      c.close();
    }
    for (KmsHttpClient c : mailboxClients) {
      c.close();
    }
    if (hiccups != null) {
      hiccups.close();
    }
    if (vertx != null) {
      vertx.close().await();
    }
    if (server != null && server.isAlive()) {
      server.destroy(); // SIGTERM: a clean stop (and the JFR dump, if recording)
      try {
        if (!server.waitFor(30, TimeUnit.SECONDS)) {
          server.destroyForcibly();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (hsm != null) {
      hsm.close();
    }
    if (token != null) {
      token.close();
    }
  }

  // --- requests ----------------------------------------------------------------------------

  private byte[] newRequest(Flow f) {
    try {
      return switch (f) {
        case BOOTSTRAP -> bootstrapping.start(alice).requestBytes();
        case FIG17, FIG17_E2M -> mailbox.keyRequest(sm, ue.offer(nextSender(), BOB).offerBytes(),
            f == Flow.FIG17_E2M).requestBytes();
        case FIG18 -> ue.retrieval(sb, offerForRetrieval, ticketForRetrieval).requestBytes();
      };
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private ClientSession nextSender() {
    return senders.get(nextSender++ % senders.size());
  }

  /** Fresh requests (fresh nonces and timestamps), made before the clock starts. */
  private ConcurrentLinkedQueue<byte[]> requests(Flow f, double rps, double seconds) {
    int n = (int) Math.min(200_000, Math.ceil(rps * seconds) + 200);
    ConcurrentLinkedQueue<byte[]> q = new ConcurrentLinkedQueue<>();
    for (int i = 0; i < n; i++) {
      q.add(newRequest(f));
    }
    return q;
  }

  private byte[] take(Flow f, ConcurrentLinkedQueue<byte[]> q, AtomicLong madeLate) {
    byte[] r = q.poll();
    if (r == null) {
      madeLate.incrementAndGet();
      r = newRequest(f);
    }
    return r;
  }

  private byte[] serveInProcess(Flow f, byte[] request) throws Exception {
    return switch (f) {
      case BOOTSTRAP -> service.bootstrap(request);
      case FIG17, FIG17_E2M -> service.mailboxKeyRequest(request);
      case FIG18 -> service.retrieveMediaKey(request);
    };
  }

  private Future<byte[]> send(Flow f, int client, byte[] request) {
    return switch (f) {
      case BOOTSTRAP -> ueClients.get(client % ueClients.size()).bootstrap(request);
      case FIG17, FIG17_E2M ->
          mailboxClients.get(client % mailboxClients.size()).mailboxKeyRequest(request);
      case FIG18 -> ueClients.get(client % ueClients.size()).retrieve(request);
    };
  }

  // --- the bound ---------------------------------------------------------------------------

  record Bound(double rps, double cpuMsPerRequest, long errors) {}

  /** The flow served in-process by kms-core on {@code threadCount} threads, no HTTP. */
  private Bound bound(Flow f, int threadCount) throws InterruptedException {
    if (!o.bound()) {
      return new Bound(Double.NaN, Double.NaN, 0);
    }
    ConcurrentLinkedQueue<byte[]> q = requests(f, f.ceilingRps, o.warmup() + o.seconds());
    AtomicLong late = new AtomicLong();
    AtomicLong done = new AtomicLong();
    AtomicLong errors = new AtomicLong();
    AtomicLong cpu = new AtomicLong();
    long t0 = System.nanoTime() + (long) (o.warmup() * 1e9);
    long t1 = t0 + (long) (o.seconds() * 1e9);
    List<Thread> ts = new ArrayList<>();
    for (int i = 0; i < threadCount; i++) {
      Thread t = new Thread(() -> {
        long cpu0 = -1;
        long n = 0;
        while (true) {
          long now = System.nanoTime();
          if (now >= t1) {
            break;
          }
          if (cpu0 < 0 && now >= t0) {
            cpu0 = threads.getCurrentThreadCpuTime();
          }
          byte[] r = take(f, q, late);
          try {
            serveInProcess(f, r);
            if (System.nanoTime() >= t0 && System.nanoTime() < t1) {
              n++;
            }
          } catch (Exception e) {
            errors.incrementAndGet();
          }
        }
        if (cpu0 >= 0) {
          cpu.addAndGet(threads.getCurrentThreadCpuTime() - cpu0);
        }
        done.addAndGet(n);
      }, "bound-" + i);
      ts.add(t);
      t.start();
    }
    for (Thread t : ts) {
      t.join();
    }
    if (late.get() > 0) {
      System.out.printf("  (bound %s/%d: %d requests made during the run)%n", f.key, threadCount,
          late.get());
    }
    return new Bound(Stats.rate(done.get(), t1 - t0),
        Stats.cpuMsPerRequest(cpu.get(), done.get()), errors.get());
  }

  /**
   * The bound as an open loop, printed on one line: the flow served in-process by kms-core at
   * {@code rate} requests/s, sent at the same evenly spaced times as the HTTPS open loop, by as
   * many threads as the server has HSM workers, latency from the intended send time. It is the
   * latency that the HSM and this platform alone leave at that rate (no HTTP, TLS, JSON or
   * audit log), the floor under the server's at the same load, and the CPU time its threads
   * spent per request, to set beside the server's HSM workers at the same rate. Returns its
   * errors.
   */
  private long openBound(Flow f, double rate, double seconds) throws InterruptedException {
    int threadCount = o.serverWorkers() > 0 ? o.serverWorkers() : o.serverPool();
    ConcurrentLinkedQueue<byte[]> q = requests(f, rate, o.warmup() + seconds);
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(
        threadCount, r -> new Thread(r, "bound-open"));
    Histogram h = Stats.newHistogram();
    AtomicLong late = new AtomicLong();
    AtomicLong errors = new AtomicLong();
    AtomicLong cpu = new AtomicLong();
    long period = (long) (1e9 / rate);
    long begin = System.nanoTime() + 50_000_000L;
    long t0 = begin + (long) (o.warmup() * 1e9);
    long t1 = t0 + (long) (seconds * 1e9);
    pace(begin, period, t1, intended -> {
      boolean counted = intended >= t0;
      byte[] request = take(f, q, late);
      pool.execute(() -> {
        try {
          long cpu0 = threads.getCurrentThreadCpuTime();
          serveInProcess(f, request);
          long took = System.nanoTime() - intended;
          if (counted) {
            cpu.addAndGet(threads.getCurrentThreadCpuTime() - cpu0);
            synchronized (h) {
              Stats.record(h, took);
            }
          }
        } catch (Exception e) {
          if (counted) {
            errors.incrementAndGet();
          }
        }
      });
    });
    pool.shutdown();
    pool.awaitTermination(30, java.util.concurrent.TimeUnit.SECONDS);
    System.out.printf(Locale.ROOT, "  (bound as an open loop at %.0f/s on %d threads, no HTTP:"
        + " p50 %.2f, p99 %.2f, p99.9 %.2f ms; %.1f%% over 5 ms; CPU %.3f ms per request%s)%n",
        rate, threadCount,
        Stats.percentileMs(h, 50), Stats.percentileMs(h, 99), Stats.percentileMs(h, 99.9),
        100.0 * (h.getTotalCount() - h.getCountBetweenValues(0, 5_000))
            / Math.max(1, h.getTotalCount()),
        Stats.cpuMsPerRequest(cpu.get(), h.getTotalCount()),
        errors.get() > 0 ? "; " + errors.get() + " errors" : "");
    return errors.get();
  }

  /**
   * Calls {@code send} with each intended send time (begin, begin + period, ... before t1) at
   * that time: parked until then, or at once when already late (an open loop counts latency
   * from the intended time, so lateness is not hidden).
   */
  static void pace(long begin, long period, long t1, java.util.function.LongConsumer send) {
    for (long i = 0; ; i++) {
      long intended = begin + i * period;
      if (intended >= t1) {
        return;
      }
      long wait = intended - System.nanoTime();
      if (wait > 0) {
        LockSupport.parkNanos(wait);
      }
      send.accept(intended);
    }
  }

  // --- HTTP ---------------------------------------------------------------------------------

  record Row(String flow, String mode, double rps, double p50, double p99, double p999,
      long errors, double cpuMs, double sysShare, double jitShare, double clientCpuMs,
      double boundRps, double boundCpuMs, double ratio, double rssMb, double heapMb) {
    static final String HEADER = String.format(Locale.ROOT,
        "%-3s %-10s %-8s %8s %7s %7s %7s %5s %7s %5s %5s %6s %8s %7s %6s %6s %6s %6s", "rep",
        "flow", "load", "rps", "p50ms", "p99ms", "p999ms", "err", "srvCPU", "sys%", "jit%",
        "cliCPU", "bound", "bCPU", "ratio", "cpuX", "RSSMB", "heapMB");

    /**
     * Server CPU per request without the JIT compiler's threads, over the bound's CPU per
     * request: a server in steady state compiles nothing, and the bound's figure counts only
     * the threads that serve requests. {@code jit%} shows what was left out.
     */
    double cpuX() {
      return cpuMs * (1 - jitShare) / boundCpuMs;
    }

    String format(int rep) {
      return String.format(Locale.ROOT,
          "%-3s %-10s %-8s %8.0f %7.2f %7.2f %7.2f %5d %7.3f %4.0f%% %4.0f%% %6.3f %8.0f %7.3f"
              + " %6.2f %6.2f %6.0f %6.0f", rep == 0 ? "-" : Integer.toString(rep), flow, mode,
          rps, p50, p99, p999, errors, cpuMs, 100 * sysShare, 100 * jitShare, clientCpuMs,
          boundRps, boundCpuMs, ratio, cpuX(), rssMb, heapMb);
    }
  }

  /** One closed-loop step at concurrency {@code c}: the bound first, then HTTPS. */
  private Row step(Flow f, int c) throws Exception {
    Bound b = bound(f, c);
    double expect = Double.isNaN(b.rps()) ? f.ceilingRps : b.rps() * 1.3;
    ConcurrentLinkedQueue<byte[]> q = requests(f, expect, o.warmup() + o.seconds());
    Histogram h = Stats.newHistogram();
    AtomicLong late = new AtomicLong();
    AtomicLong done = new AtomicLong();
    AtomicLong errors = new AtomicLong();
    long t0 = System.nanoTime() + (long) (o.warmup() * 1e9);
    long t1 = t0 + (long) (o.seconds() * 1e9);
    CountDownLatch finished = new CountDownLatch(c);
    for (int u = 0; u < c; u++) {
      int user = u;
      vertx.runOnContext(v -> loop(f, user, q, late, h, done, errors, t0, t1, finished));
    }
    Sample s = sampleWindow(t0, t1);
    finished.await();
    totalErrors += errors.get() + b.errors();
    if (late.get() > 0) {
      System.out.printf("  (http %s/%d: %d requests made during the run)%n", f.key, c,
          late.get());
    }
    return row(f, "c=" + c, done.get(), t1 - t0, h, errors.get(), s, b);
  }

  /** The closed-loop concurrencies at which {@code f} is measured (the sweep: the largest). */
  private List<Integer> concurrencies(Flow f) {
    if (!o.principals().isEmpty()) {
      return List.of(o.largestConcurrency());
    }
    return f == Flow.FIG17 || o.otherConcurrency() == null ? o.concurrency()
        : o.otherConcurrency();
  }

  /**
   * Closed loop at {@code users} clients for {@code seconds}, and (with {@code bound}) the bound
   * for 1 s; nothing recorded.
   */
  private void warmUp(Flow f, double seconds, boolean bound, int users) throws Exception {
    ConcurrentLinkedQueue<byte[]> q = requests(f, f.ceilingRps, seconds);
    long t0 = System.nanoTime();
    long t1 = t0 + (long) (seconds * 1e9);
    CountDownLatch finished = new CountDownLatch(users);
    AtomicLong errors = new AtomicLong();
    for (int u = 0; u < users; u++) {
      int user = u;
      vertx.runOnContext(v -> loop(f, user, q, new AtomicLong(), Stats.newHistogram(),
          new AtomicLong(), errors, t0, t1, finished));
    }
    finished.await();
    if (o.bound() && bound) {
      ConcurrentLinkedQueue<byte[]> b = requests(f, f.ceilingRps, 1);
      long end = System.nanoTime() + 1_000_000_000L;
      while (System.nanoTime() < end && !b.isEmpty()) {
        serveInProcess(f, b.poll());
      }
    }
  }

  private void loop(Flow f, int user, ConcurrentLinkedQueue<byte[]> q, AtomicLong late,
      Histogram h, AtomicLong done, AtomicLong errors, long t0, long t1, CountDownLatch end) {
    long start = System.nanoTime();
    if (start >= t1) {
      end.countDown();
      return;
    }
    send(f, user, take(f, q, late)).onComplete(ar -> {
      long now = System.nanoTime();
      if (now >= t0 && now < t1) {
        if (ar.succeeded()) {
          synchronized (h) {
            Stats.record(h, now - start);
          }
          done.incrementAndGet();
        } else {
          errors.incrementAndGet();
          if (errors.get() <= 3) {
            System.out.println("  error: " + ar.cause());
          }
        }
      }
      loop(f, user, q, late, h, done, errors, t0, t1, end);
    });
  }

  /** Open loop at {@code rate}: a request every 1/rate s, latency from its intended time. */
  private Row openStep(Flow f, double rate, double seconds) throws Exception {
    return openStep(f, rate, seconds, false);
  }

  /** The per-minute RSS samples of the last open loop (a soak's trail). */
  private List<Long> lastTrail = List.of();

  private Row openStep(Flow f, double rate, double seconds, boolean soak) throws Exception {
    int c = o.concurrency().stream().mapToInt(Integer::intValue).max().orElse(4);
    Bound b = bound(f, Math.min(c, 8));
    if (o.bound() && !o.quick() && !soak) {
      totalErrors += openBound(f, rate, seconds); // not in --quick: it must end within 2 min
    }
    // A step's requests are made before it (at most 200,000). A soak's cannot be: a request
    // carries its timestamp, and one made longer ago than the replay window (300 s) is refused as stale. A
    // thread keeps about 5 s of fresh requests ready instead (its CPU counts as the client's).
    ConcurrentLinkedQueue<byte[]> q = requests(f, rate, o.warmup() + (soak ? 5 : seconds));
    AtomicBoolean soakOver = new AtomicBoolean();
    Thread refill = null;
    if (soak) {
      int keep = (int) Math.ceil(rate * 5);
      refill = new Thread(() -> {
        while (!soakOver.get()) {
          if (q.size() < keep) {
            q.add(newRequest(f));
          } else {
            LockSupport.parkNanos(10_000_000L);
          }
        }
      }, "soak-requests");
      refill.setDaemon(true);
      refill.start();
    }
    // Every client's keep-alive connection open (TLS handshakes done) before the clock starts.
    List<KmsHttpClient> kind = f == Flow.FIG17 || f == Flow.FIG17_E2M ? mailboxClients
        : ueClients;
    long th = System.nanoTime();
    for (int i = 0; i < OPEN_LOOP_CLIENTS; i++) {
      int ci = i;
      contexts.get(i).runOnContext(v -> kind.get(ci).ready());
    }
    List<Future<Boolean>> touched = new ArrayList<>();
    for (int i = 0; i < OPEN_LOOP_CLIENTS; i++) {
      touched.add(kind.get(i).ready());
    }
    Future.join(touched).await();
    System.out.printf(Locale.ROOT, "  (open loop: %d clients connected in %.1f s)%n",
        OPEN_LOOP_CLIENTS, (System.nanoTime() - th) / 1e9);
    Histogram h = Stats.newHistogram();
    AtomicLong late = new AtomicLong();
    AtomicLong done = new AtomicLong();
    AtomicLong errors = new AtomicLong();
    AtomicInteger inFlight = new AtomicInteger();
    ConcurrentLinkedQueue<Integer> idle = new ConcurrentLinkedQueue<>();
    for (int i = 0; i < OPEN_LOOP_CLIENTS; i++) {
      idle.add(i);
    }
    AtomicLong shared = new AtomicLong();
    long period = (long) (1e9 / rate);
    long begin = System.nanoTime() + 50_000_000L;
    long t0 = begin + (long) (Math.max(o.warmup(), OPEN_LOOP_SETTLE_SECONDS) * 1e9);
    long t1 = t0 + (long) (seconds * 1e9);
    SlowWindows slow = new SlowWindows(t0, t1);
    Thread pacer = new Thread(() -> pace(begin, period, t1, intended -> {
        boolean counted = intended >= t0;
        if (inFlight.incrementAndGet() > 2_000) {
          inFlight.decrementAndGet();
          if (counted) {
            errors.incrementAndGet();
          }
          return;
        }
        Integer client = idle.poll();
        if (client == null) {
          shared.incrementAndGet(); // more in flight than clients: one waits for a connection
        }
        int ci = client != null ? client
            : (int) ((intended - begin) / period % OPEN_LOOP_CLIENTS);
        byte[] request = take(f, q, late);
        // Sent from the client's own context, as the closed loop does: a call from a plain
        // thread gets a new context each time, which costs the client far more CPU.
        contexts.get(ci).runOnContext(v -> send(f, ci, request).onComplete(ar -> {
          inFlight.decrementAndGet();
          if (client != null) {
            idle.add(client);
          }
          if (!counted) {
            return;
          }
          if (ar.succeeded()) {
            long took = System.nanoTime() - intended;
            synchronized (h) {
              Stats.record(h, took);
            }
            slow.record(intended, took);
            done.incrementAndGet();
          } else {
            errors.incrementAndGet();
          }
        }));
      }), "open-loop");
    pacer.start();
    Sample s = sampleWindow(t0, t1);
    lastTrail = s.rssTrail();
    pacer.join();
    soakOver.set(true);
    if (refill != null) {
      refill.join();
    }
    long drain = System.nanoTime() + 10_000_000_000L;
    while (inFlight.get() > 0 && System.nanoTime() < drain) {
      Thread.sleep(10);
    }
    totalErrors += errors.get() + b.errors();
    if (shared.get() > 0) {
      System.out.printf("  (open loop: %d requests found all %d clients busy)%n", shared.get(),
          OPEN_LOOP_CLIENTS);
    }
    if (hiccups != null) {
      System.out.println("  (open loop: " + slow.summary(hiccups, epochOffsetMillis()) + ")");
    }
    return row(f, String.format(Locale.ROOT, "%.0f/s", rate), done.get(), t1 - t0, h,
        errors.get(), s, b);
  }

  record Sample(ProcSampler.Cpu cpu, ProcSampler.Cpu client, long rss, long heap, long nanos,
      long jitNanos, List<Long> rssTrail) {}

  /** Server CPU over [t0, t1), and RSS and heap at t1. */
  private Sample sampleWindow(long t0, long t1) throws InterruptedException {
    sleepUntil(t0);
    if (proc == null) {
      ProcSampler.Cpu m0 = self.cpu();
      sleepUntil(t1);
      ProcSampler.Cpu zero = m0.minus(m0);
      return new Sample(zero, self.cpu().minus(m0), -1, -1, t1 - t0, 0, List.of());
    }
    ProcSampler.Cpu c0 = proc.cpu();
    ProcSampler.Cpu m0 = self.cpu();
    Map<String, Long> threads0 = proc.threadCpu();
    Map<String, ProcSampler.Switches> switches0 = proc.threadSwitches();
    ServerSnapshot at0 = serverSnapshot();
    List<Long> trail = new ArrayList<>();
    // Long steps (a soak): RSS, heap and CPU once a minute, to show whether they stay flat.
    for (long t = t0 + 60_000_000_000L; t < t1; t += 60_000_000_000L) {
      sleepUntil(t);
      long rss = proc.rssBytes();
      trail.add(rss);
      System.out.printf(Locale.ROOT, "  t=%4.0f s  server RSS %.0f MB, heap %.0f MB, CPU %.1f s;"
          + " load average %s%n", (t - t0) / 1e9, rss / 1e6, heapBytes() / 1e6,
          proc.cpu().minus(c0).total() / 1e9, loadAverage());
    }
    sleepUntil(t1);
    ProcSampler.Cpu c1 = proc.cpu();
    ProcSampler.Cpu m1 = self.cpu();
    Map<String, Long> threads1 = proc.threadCpu();
    Map<String, ProcSampler.Switches> switches1 = proc.threadSwitches();
    long rss = proc.rssBytes();
    trail.add(rss);
    ServerSnapshot at1 = serverSnapshot();
    if (at0.generation() >= 0 && at1.generation() > at0.generation()) {
      // hsm.recycleAfterObjects: every request waits while the module is re-initialised; in a
      // step of seconds that pause alone can make the p99 (docs/performance.md, "Fourth round").
      System.out.printf("  (the server's HSM module was recycled %d time(s) in this step: its"
          + " pause is in these latencies)%n", at1.generation() - at0.generation());
    }
    long answered = printServerSide(at0.timers(), at1.timers());
    Map<String, Long> threads = ProcSampler.minus(threads1, threads0);
    printThreads(threads, answered);
    printSwitches(ProcSampler.minusSwitches(switches1, switches0), answered);
    System.out.printf(Locale.ROOT, "  (platform beside the server: %s)%n", platformBetween(t0, t1));
    return new Sample(c1.minus(c0), m1.minus(m0), rss, at1.heapBytes(), t1 - t0,
        ProcSampler.jitNanos(threads), trail);
  }

  /** Epoch milliseconds minus {@link System#nanoTime()} in milliseconds: the meter's clock. */
  static long epochOffsetMillis() {
    return System.currentTimeMillis() - System.nanoTime() / 1_000_000;
  }

  /** A quiet start: the platform's delays with nothing of the benchmark running. */
  static final long REST_NANOS = 3_000_000_000L;

  /**
   * What {@link HiccupMeter} saw in [t0, t1) ({@link System#nanoTime()}), once the interval
   * that ends at t1 has arrived: how late a thread sleeping 1 ms on the server's CPUs woke.
   */
  private String platformBetween(long t0, long t1) throws InterruptedException {
    long offsetMillis = epochOffsetMillis();
    long from = t0 / 1_000_000 + offsetMillis;
    long to = t1 / 1_000_000 + offsetMillis;
    Thread.sleep(Math.max(0, to + 50 - System.currentTimeMillis()));
    return "a thread sleeping 1 ms on " + (o.splitCpus() ? "the server's CPU" : "these CPUs")
        + " " + HiccupMeter.summary(hiccups.between(from, to));
  }

  /** The server's thread groups, as {@link ProcSampler} names them (digits folded). */
  static final String HSM_WORKERS = "kms-hsm-N";
  static final String EVENT_LOOPS = "vert.x-event";
  static final String AUDIT_WRITER = "audit-writer";

  /**
   * One line: the server's CPU per answered request by thread group over the step. The HSM
   * workers run the same kms-core and adapter code as the bound, so their figure should be
   * close to {@code bCPU}; the rest (event loops: TLS, HTTP, JSON, validation; the audit writer;
   * the collector) is what the bound does not pay. {@code ceiling} = workers / (all − compiler)
   * is the ratio on one core if the bound cost exactly what the workers do; host noise inflates
   * both alike, so it is the steadiest figure of a run (docs/performance.md, "Sixth round").
   */
  private static void printThreads(Map<String, Long> threads, long answered) {
    if (answered <= 0 || threads.isEmpty()) {
      return;
    }
    long all = threads.values().stream().mapToLong(Long::longValue).sum();
    long jit = ProcSampler.jitNanos(threads);
    long workers = threads.getOrDefault(HSM_WORKERS, 0L);
    long loops = threads.entrySet().stream().filter(e -> e.getKey().startsWith(EVENT_LOOPS))
        .mapToLong(Map.Entry::getValue).sum();
    long audit = threads.getOrDefault(AUDIT_WRITER, 0L);
    long other = all - jit - workers - loops - audit;
    System.out.printf(Locale.ROOT, "  (server CPU per request by thread: HSM workers %.3f ms,"
        + " event loops %.3f, audit writer %.3f, JIT compiler %.3f, other %.3f; ceiling %.2f)%n",
        workers / 1e6 / answered, loops / 1e6 / answered, audit / 1e6 / answered,
        jit / 1e6 / answered, other / 1e6 / answered,
        (double) workers / Math.max(1, all - jit));
  }

  /**
   * One line: the server's thread switches per answered request over the step. A voluntary
   * switch is a thread going to sleep to wait (for a request, a lock, the disk), so it counts
   * the wake-ups a request costs: each hand-off between the event loop, the HSM workers and the
   * audit writer is one. An involuntary one is the scheduler taking a running thread's CPU.
   */
  static void printSwitches(Map<String, ProcSampler.Switches> switches, long answered) {
    if (answered <= 0 || switches.isEmpty()) {
      return;
    }
    ProcSampler.Switches none = ProcSampler.Switches.NONE;
    ProcSampler.Switches all = switches.values().stream().reduce(none, ProcSampler.Switches::plus);
    ProcSampler.Switches loops = switches.entrySet().stream()
        .filter(e -> e.getKey().startsWith(EVENT_LOOPS)).map(Map.Entry::getValue)
        .reduce(none, ProcSampler.Switches::plus);
    ProcSampler.Switches workers = switches.getOrDefault(HSM_WORKERS, none);
    ProcSampler.Switches audit = switches.getOrDefault(AUDIT_WRITER, none);
    double n = answered;
    System.out.printf(Locale.ROOT, "  (server thread switches per request: waits %.2f (event loops"
        + " %.2f, HSM workers %.2f, audit writer %.2f, other %.2f), preempted %.2f)%n",
        all.voluntary() / n, loops.voluntary() / n, workers.voluntary() / n,
        audit.voluntary() / n,
        (all.voluntary() - loops.voluntary() - workers.voluntary() - audit.voluntary()) / n,
        all.involuntary() / n);
  }

  /**
   * The server's own timers, by where a request spends its time: the whole answer
   * (kms_http_requests_seconds: from the request's arrival at the event loop to its answer, so
   * without the network, TLS records in flight and this harness), the protocol operation in it
   * (kms_operations_seconds: the worker's queue and the HSM calls) and the wait
   * for its audit record (kms_audit_append_seconds: the group commit's fsync).
   */
  static final List<String> SERVER_TIMERS = List.of("kms_http_requests_seconds",
      "kms_operations_seconds", "kms_audit_append_seconds");

  /** A timer read from /metrics: cumulative counts by bucket bound in seconds, and its sum. */
  record TimerText(TreeMap<Double, Long> buckets, double sumSeconds) {
    static final TimerText EMPTY = new TimerText(new TreeMap<>(), 0);

    long count() {
      return buckets.getOrDefault(Double.POSITIVE_INFINITY, 0L);
    }
  }

  /**
   * What a step reads of the server's /metrics at its start and end, from one page: the module
   * generation, the heap in use and {@link #SERVER_TIMERS} (each summed over its labels);
   * -1 and empty if the page cannot be read.
   */
  record ServerSnapshot(long generation, long heapBytes, Map<String, TimerText> timers) {}

  ServerSnapshot serverSnapshot() {
    try {
      String text = metricsText();
      return new ServerSnapshot(sum(text, named("kms_hsm_generation")), sum(text, HEAP),
          parseTimers(text));
    } catch (Exception e) {
      return new ServerSnapshot(-1, -1, Map.of());
    }
  }

  /** {@link #SERVER_TIMERS} from Prometheus text, each summed over its labels. */
  static Map<String, TimerText> parseTimers(String metricsText) {
    Map<String, TreeMap<Double, Long>> buckets = new HashMap<>();
    Map<String, Double> sums = new HashMap<>();
    for (String line : metricsText.split("\n")) {
      int brace = line.indexOf('{');
      if (brace < 0) {
        continue;
      }
      String name = line.substring(0, brace);
      String timer = name.substring(0, Math.max(0, name.lastIndexOf('_')));
      if (!SERVER_TIMERS.contains(timer)) {
        continue;
      }
      double value = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      if (name.endsWith("_sum")) {
        sums.merge(timer, value, Double::sum);
      } else if (name.endsWith("_bucket")) {
        int i = line.indexOf("le=\"");
        String le = line.substring(i + 4, line.indexOf('"', i + 4));
        double bound = le.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(le);
        buckets.computeIfAbsent(timer, k -> new TreeMap<>()).merge(bound, (long) value,
            Long::sum);
      }
    }
    Map<String, TimerText> out = new HashMap<>();
    buckets.forEach((t, b) -> out.put(t, new TimerText(b, sums.getOrDefault(t, 0.0))));
    return out;
  }

  /**
   * One line: for each server timer, the step's mean, its share within 5 ms and the bucket of
   * its p99. A tail in the requests that is not in the operations or the audit waits is the
   * event loop's (TLS, parsing, scheduling, pauses). Returns the requests answered in the step.
   */
  private static long printServerSide(Map<String, TimerText> before,
      Map<String, TimerText> after) {
    StringBuilder line = new StringBuilder();
    long answered = 0;
    for (String timer : SERVER_TIMERS) {
      TimerText b = before.getOrDefault(timer, TimerText.EMPTY);
      TimerText a = after.getOrDefault(timer, TimerText.EMPTY);
      long n = a.count() - b.count();
      if (n <= 0) {
        continue;
      }
      if (timer.equals(SERVER_TIMERS.get(0))) {
        answered = n;
      }
      long within5 = a.buckets().getOrDefault(0.005, 0L) - b.buckets().getOrDefault(0.005, 0L);
      double p99 = Double.POSITIVE_INFINITY;
      for (Map.Entry<Double, Long> e : a.buckets().entrySet()) {
        if (e.getValue() - b.buckets().getOrDefault(e.getKey(), 0L) >= 0.99 * n) {
          p99 = e.getKey();
          break;
        }
      }
      line.append(line.length() == 0 ? "" : "; ").append(String.format(Locale.ROOT,
          "%s mean %.2f ms, %.1f%% of %d within 5 ms, p99 within %s ms",
          timer.replace("_seconds", ""), 1000 * (a.sumSeconds() - b.sumSeconds()) / n,
          100.0 * within5 / n, n,
          Double.isInfinite(p99) ? "inf" : String.format(Locale.ROOT, "%.0f", p99 * 1000)));
    }
    if (line.length() > 0) {
      System.out.println("  (server-side: " + line + ")");
    }
    return answered;
  }

  private Row row(Flow f, String mode, long n, long nanos, Histogram h, long errors, Sample s,
      Bound b) {
    double rps = Stats.rate(n, nanos);
    return new Row(f.key, mode, rps, Stats.percentileMs(h, 50), Stats.percentileMs(h, 99),
        Stats.percentileMs(h, 99.9), errors, Stats.cpuMsPerRequest(s.cpu().total(), n),
        s.cpu().total() == 0 ? 0 : (double) s.cpu().systemNanos() / s.cpu().total(),
        s.cpu().total() == 0 ? 0 : Math.min(1, (double) s.jitNanos() / s.cpu().total()),
        Stats.cpuMsPerRequest(s.client().total(), n), b.rps(),
        b.cpuMsPerRequest(), Stats.ratio(rps, b.rps()), s.rss() / 1e6, s.heap() / 1e6);
  }

  static void sleepUntil(long t) throws InterruptedException {
    long w;
    while ((w = t - System.nanoTime()) > 0) {
      Thread.sleep(Math.max(1, w / 1_000_000), 0);
    }
  }

  /** The lines of jvm_memory_used_bytes{area="heap"}: summed over the pools, the heap in use. */
  private static final java.util.function.Predicate<String> HEAP =
      line -> line.startsWith("jvm_memory_used_bytes{") && line.contains("area=\"heap\"");

  /** The lines of a gauge or counter, whatever their labels. */
  private static java.util.function.Predicate<String> named(String name) {
    return line -> line.startsWith(name + " ") || line.startsWith(name + "{");
  }

  /** The server's heap in use, from its /metrics, or -1. */
  long heapBytes() {
    return metric(HEAP);
  }

  /** The server's /metrics page (Prometheus text). */
  private String metricsText() {
    return metricsClient.get("/metrics").send().await().bodyAsString();
  }

  /**
   * The sum of the values of the server's /metrics lines (Prometheus text) that {@code which}
   * selects, or -1 if none does or the server does not answer.
   */
  private long metric(java.util.function.Predicate<String> which) {
    try {
      return sum(metricsText(), which);
    } catch (Exception e) {
      return -1;
    }
  }

  /**
   * The sum of the values of the lines of Prometheus {@code text} that {@code which} selects, or
   * -1 if none does.
   */
  static long sum(String text, java.util.function.Predicate<String> which) {
    long sum = 0;
    boolean seen = false;
    for (String line : text.split("\n")) {
      if (which.test(line)) {
        sum += (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        seen = true;
      }
    }
    return seen ? sum : -1;
  }

  /** Token objects before/after, session objects left (bound pool and server), RSS, heap. */
  private void printEnd(long tokenObjectsBefore, long started) throws Exception {
    long lookups = hsmCalls("session.findShared");
    long misses = hsmCalls("session.deriveShared");
    if (lookups > 0) {
      System.out.printf(Locale.ROOT, "%nserver's shared-key lookups (keys recovered from B-TIDs"
          + " and their request keys): %d, found %d (%.1f%%)%n", lookups, lookups - misses,
          100.0 * (lookups - misses) / lookups);
    }
    System.out.printf(Locale.ROOT, "%ntoken objects before/after: %d/%d; session objects left by"
        + " the bound's %d-session pool: %d (and %d shared keys), by the server"
        + " (kms_hsm_session_objects_live − kms_hsm_shared_keys): %d (and %d shared keys) of"
        + " %d created in module generation %d; server RSS %.0f MB, threads %d, heap %.0f MB;"
        + " load average %s; %.0f s%n",
        tokenObjectsBefore, tokenObjects(), hsm.status().poolSize(),
        hsm.countSessionObjects() - hsm.status().sharedKeys(), hsm.status().sharedKeys(),
        serverLiveObjects(), serverMetric("kms_hsm_shared_keys"),
        serverMetric("kms_hsm_session_objects_created_in_generation"),
        serverMetric("kms_hsm_generation"), proc.rssBytes() / 1e6, proc.threads(),
        heapBytes() / 1e6, loadAverage(), (System.nanoTime() - started) / 1e9);
  }

  /**
   * The soak: an open loop of Figure 17 at {@code --soak-share} of this run's best closed-loop
   * rate, RSS and heap once a minute; flat means the last sample within 5% of the first.
   */
  private void soak(double bestRps) throws Exception {
    double rate = Math.floor(bestRps * o.soakShare());
    long objects0 = proc == null ? -1 : serverLiveObjects();
    long generation0 = proc == null ? -1 : serverMetric("kms_hsm_generation");
    long tokens0 = token == null ? -1 : tokenObjects();
    long errors0 = totalErrors;
    System.out.printf(Locale.ROOT, "%nsoak: Figure 17 open loop at %.0f rps (%.0f%% of the best"
        + " %.0f rps of this run) for %.0f s; load average %s%n", rate, 100 * o.soakShare(),
        bestRps, o.soakSeconds(), loadAverage());
    System.out.println(Row.HEADER);
    long before = System.nanoTime();
    Row r = openStep(Flow.FIG17, rate, o.soakSeconds(), true);
    System.out.println(r.format(0));
    Thread.sleep(2_000); // the server idle: every request's session closed
    List<Long> trail = lastTrail;
    double first = trail.isEmpty() ? Double.NaN : trail.get(0) / 1e6;
    double last = trail.isEmpty() ? Double.NaN : trail.get(trail.size() - 1) / 1e6;
    double max = trail.stream().mapToLong(Long::longValue).max().orElse(-1) / 1e6;
    long requests = Math.round(r.rps() * o.soakSeconds());
    System.out.printf(Locale.ROOT, "soak: %d requests answered in the window, %d errors; p50 %.2f"
        + " ms, p99 %.2f ms, p99.9 %.2f ms; server RSS at the first minute %.0f MB, at the end"
        + " %.0f MB (%+.1f%%), highest %.0f MB; server session objects live %d before, %d after"
        + " (module generation %d before, %d after: recycles meanwhile); token objects %d before, %d after; %.0f s; load average %s%n",
        requests, totalErrors - errors0, r.p50(), r.p99(), r.p999(), first, last,
        100 * (last - first) / first, max, objects0,
        proc == null ? -1 : serverLiveObjects(),
        generation0, proc == null ? -1 : serverMetric("kms_hsm_generation"), tokens0,
        token == null ? -1 : tokenObjects(), (System.nanoTime() - before) / 1e9, loadAverage());
    System.out.printf(Locale.ROOT, "soak_rps=%.0f soak_errors=%d soak_rss_change_pct=%.1f"
        + " soak_p99_ms=%.1f%n", r.rps(), totalErrors - errors0, 100 * (last - first) / first,
        r.p99());
  }

  /**
   * The server's live HSM session objects other than its shared keys (the recovered Ks kept for
   * reuse, bounded by hsm.sharedKeys): what requests left behind; -1 if its /metrics does not say.
   */
  long serverLiveObjects() {
    long live = serverMetric("kms_hsm_session_objects_live");
    long shared = serverMetric("kms_hsm_shared_keys");
    return live < 0 || shared < 0 ? -1 : live - shared;
  }

  /** The server's count of one adapter call (kms_hsm_calls_seconds, all outcomes), or -1. */
  long hsmCalls(String call) {
    return metric(line -> line.startsWith("kms_hsm_calls_seconds_count{")
        && line.contains("call=\"" + call + "\""));
  }

  /** A gauge or counter of the server's /metrics (summed over labels), or -1. */
  long serverMetric(String name) {
    return metric(named(name));
  }

  /** Token objects (files) in the benchmark token's directory. */
  private long tokenObjects() throws IOException {
    try (Stream<Path> s = Files.walk(token.tokenDir())) {
      return s.filter(p -> p.getFileName().toString().endsWith(".object")
          && !p.getFileName().toString().equals("token.object")).count();
    }
  }

  static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException e) {
      return "?";
    }
  }

  private static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(p)) {
      for (Path x : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(x);
      }
    }
  }
}
