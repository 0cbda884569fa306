package io.imskms.audit;

import java.nio.ByteBuffer;
import java.time.Clock;

/**
 * A disk that accepts every write and fsync and keeps nothing: an {@link AuditLog} on it does all
 * its CPU work (encoding, hashing, batching, signing) but no I/O. For measuring what durability
 * costs (vertx-api's AuditOverheadBench); never a log anyone verifies. Test-jar only.
 */
public final class DiscardingDisk {
  private DiscardingDisk() {}

  /** {@link AuditLog#open} on a disk that discards (the directory must be empty or new). */
  public static AuditLog open(AuditLogOptions options, CheckpointSigner signer)
      throws AuditStartException {
    Storage discard = file -> new Storage.Appender() {
      private long size;

      @Override
      public long size() {
        return size;
      }

      @Override
      public void append(ByteBuffer buf) {
        size += buf.remaining();
        buf.position(buf.limit());
      }

      @Override
      public void force() {}

      @Override
      public void truncate(long s) {
        size = Math.min(size, s);
      }

      @Override
      public int read(ByteBuffer dst, long pos) {
        return -1;
      }

      @Override
      public void close() {}
    };
    return AuditLog.open(options, signer, discard, Clock.systemUTC());
  }
}
