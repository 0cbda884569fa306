package io.imskms.audit;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A disk that fails on demand (full, I/O error) under a real {@link AuditLog}: the seam through
 * which tests outside this package (the server's fail-closed test in vertx-api) break the disk.
 * Root ignores file modes, so a real permission fault cannot be made in the tests. Test-jar only.
 */
public final class FaultyDisk {
  private final AtomicBoolean failing = new AtomicBoolean();

  /** From now on every write, fsync and open fails ({@code true}), or works again. */
  public void failing(boolean on) {
    failing.set(on);
  }

  /** {@link AuditLog#open} on this disk. */
  public AuditLog open(AuditLogOptions options, CheckpointSigner signer)
      throws AuditStartException {
    return AuditLog.open(options, signer, storage(), Clock.systemUTC());
  }

  private Storage storage() {
    return file -> {
      if (failing.get()) {
        throw new IOException("No space left on device");
      }
      Storage.Appender a = Storage.FILES.open(file);
      return new Storage.Appender() {
        @Override
        public long size() throws IOException {
          return a.size();
        }

        @Override
        public void append(ByteBuffer buf) throws IOException {
          if (failing.get()) {
            ByteBuffer half = buf.duplicate();
            half.limit(half.position() + half.remaining() / 2);
            a.append(half); // a partial write, then the failure: the writer must cut it
            throw new IOException("No space left on device");
          }
          a.append(buf);
        }

        @Override
        public void force() throws IOException {
          if (failing.get()) {
            throw new IOException("fsync: Input/output error");
          }
          a.force();
        }

        @Override
        public void truncate(long size) throws IOException {
          a.truncate(size);
        }

        @Override
        public int read(ByteBuffer dst, long pos) throws IOException {
          return a.read(dst, pos);
        }

        @Override
        public void close() throws IOException {
          a.close();
        }
      };
    };
  }
}
