package io.imskms.audit;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Benchmark of the group-commit writer with fsync (docs/performance.md): keeps up to
 * {@code inflight} records waiting (as that many concurrent requests would), counts records whose
 * future completed (i.e. fsynced) per second, over several runs.
 *
 * <pre>mvn -B -q -pl kms-audit exec:java -Dexec.mainClass=io.imskms.audit.AuditBench \
 *   -Dexec.args="DIR [seconds=5] [runs=5] [inflight=1024] [batchDelayMs=0]"</pre>
 *
 * Checkpoints are signed in software here (an ephemeral JDK Ed25519 key): signing happens once a
 * second and does not bear on the record rate; the KMS signs in the HSM.
 */
public final class AuditBench {
  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: AuditBench DIR [seconds] [runs] [inflight] [batchDelayMs]");
      System.exit(64);
    }
    Path base = Path.of(args[0]);
    int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    int runs = args.length > 2 ? Integer.parseInt(args[2]) : 5;
    int inflight = args.length > 3 ? Integer.parseInt(args[3]) : 1024;
    long delayMs = args.length > 4 ? Long.parseLong(args[4]) : 0;
    KeyPair kp = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    byte[] spki = kp.getPublic().getEncoded();
    byte[] pub = Arrays.copyOfRange(spki, spki.length - 32, spki.length);
    CheckpointSigner signer = new CheckpointSigner() {
      @Override
      public String name() {
        return "bench.example/audit";
      }

      @Override
      public byte[] publicKey() {
        return pub.clone();
      }

      @Override
      public byte[] sign(byte[] message) throws SigningException {
        try {
          Signature s = Signature.getInstance("Ed25519");
          s.initSign(kp.getPrivate());
          s.update(message);
          return s.sign();
        } catch (Exception e) {
          throw new SigningException("bench signer", e);
        }
      }
    };
    List<Double> rates = new ArrayList<>();
    for (int run = 0; run < runs; run++) {
      Path dir = Files.createTempDirectory(Files.createDirectories(base), "run-");
      AuditLogOptions o = AuditLogOptions.defaults(dir, signer.name(), "bench")
          .withBatch(4096, Duration.ofMillis(delayMs));
      Semaphore window = new Semaphore(inflight);
      AtomicLong done = new AtomicLong();
      AtomicLong failed = new AtomicLong();
      AuditEvent ev = AuditEvent.builder("mailbox_key_request", AuditEvent.Outcome.OK)
          .requestId("bench-request-id-0001").caller("sip:vm.bob@ims.example.com")
          .idA("sip:alice@ims.example.com").idB("sip:bob@ims.example.com")
          .idBm("sip:vm.bob@ims.example.com").keyVersions("ticket-root:1,media-root:1")
          .ticketDigest(new byte[32]).clientCertFingerprint(new byte[32]).build();
      try (AuditLog log = AuditLog.open(o, signer)) {
        long t0 = System.nanoTime();
        long end = t0 + seconds * 1_000_000_000L;
        long startCount = -1;
        long tStart = 0;
        while (System.nanoTime() < end) {
          if (startCount < 0 && System.nanoTime() - t0 > 1_000_000_000L) {
            startCount = done.get(); // one second of warm-up
            tStart = System.nanoTime();
          }
          window.acquire();
          log.append(ev).whenComplete((r, e) -> {
            if (e == null) {
              done.incrementAndGet();
            } else {
              failed.incrementAndGet();
            }
            window.release();
          });
        }
        double rate = (done.get() - startCount) / ((System.nanoTime() - tStart) / 1e9);
        rates.add(rate);
        System.out.printf("run %d: %.0f records/s durable (fsync per batch), %d failed%n", run + 1,
            rate, failed.get());
      }
    }
    rates.sort(Double::compare);
    System.out.printf("records/s: median %.0f, min %.0f, max %.0f over %d runs of %d s"
        + " (inflight %d, batchDelay %d ms)%n", rates.get(rates.size() / 2), rates.get(0),
        rates.get(rates.size() - 1), runs, seconds, inflight, delayMs);
  }
}
