package io.imskms.audit;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HexFormat;

/** Child process of {@link CrashTest}: appends under load and prints each acknowledged record. */
public final class CrashChild {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    byte[] seed = HexFormat.of().parseHex(args[1]);
    PrintStream out = new PrintStream(System.out, false);
    AuditLog log = AuditLog.open(AuditLogOptions.defaults(dir, CrashTest.ORIGIN, "crash-node")
        .withSegments(64 * 1024, java.time.Duration.ofHours(1), java.time.Duration.ZERO), new TestSigner(CrashTest.ORIGIN, seed));
    Runnable load = () -> {
      for (long i = 0; ; i++) {
        String id = Thread.currentThread().getName() + "-" + i;
        try {
          log.append(AuditEvent.builder("mailbox_key_request", AuditEvent.Outcome.OK)
              .requestId(id).build()).get();
        } catch (Exception e) {
          continue;
        }
        synchronized (out) {
          out.println("ACK " + id);
          out.flush();
        }
      }
    };
    for (int t = 0; t < 16; t++) {
      new Thread(load, "t" + t).start();
    }
  }
}
