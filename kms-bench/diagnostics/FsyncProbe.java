import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * What one audit batch's fdatasync costs on a disk: N writes of 600 bytes, each followed by
 * fdatasync, appended to a growing file (the audit log's way: every fdatasync also commits the
 * file's new size) and overwriting a file preallocated with zeros (no size change). Three rounds
 * of each, alternated. Run it beside load on the same CPU to see the wake-up's share, e.g.
 *
 * <pre>
 * java kms-bench/diagnostics/FsyncProbe.java kms-bench/target 2000
 * taskset -c 1 sh -c 'while :; do :; done' &amp;   # twice, then:
 * taskset -c 1 java kms-bench/diagnostics/FsyncProbe.java kms-bench/target 2000
 * </pre>
 */
public class FsyncProbe {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int n = Integer.parseInt(args[1]);
    for (int round = 0; round < 3; round++) {
      for (String mode : new String[] {"append", "prealloc"}) {
        Path p = dir.resolve("fsync-probe-" + mode);
        Files.deleteIfExists(p);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE,
            StandardOpenOption.WRITE)) {
          if (mode.equals("prealloc")) {
            ByteBuffer zeros = ByteBuffer.allocate(1 << 20);
            for (int i = 0; i < 4; i++) {
              zeros.clear();
              ch.write(zeros);
            }
            ch.force(true);
            ch.position(0);
          }
          ByteBuffer rec = ByteBuffer.allocate(600);
          long[] t = new long[n];
          for (int i = 0; i < n; i++) {
            rec.clear();
            long s = System.nanoTime();
            ch.write(rec);
            ch.force(false);
            t[i] = System.nanoTime() - s;
          }
          Arrays.sort(t);
          System.out.printf("%-8s round %d: n=%d p50 %.3f p90 %.3f p99 %.3f max %.3f mean %.3f ms%n",
              mode, round, n, t[n / 2] / 1e6, t[n * 9 / 10] / 1e6, t[n * 99 / 100] / 1e6,
              t[n - 1] / 1e6, Arrays.stream(t).average().orElse(0) / 1e6);
        }
        Files.delete(p);
      }
    }
  }
}
